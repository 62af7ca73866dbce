"""Token ids for many texts as flat arrays, tokenised in worker processes.

    texts ─▶ slices ─▶ N processes: encode_batch_fast, ids into one int32 array each
          ─▶ caller: (lengths, flat ids) ─▶ numpy gathers padded batches, no Python lists

Why processes and not threads: the Rust tokenizer releases the GIL while it encodes, but
handing the ids to Python (a list of ints per text, then into an array) holds it. On the
lent 16-core GPU machine that single GIL capped threaded tokenising at about 3.3 M tokens/s,
under the GPU's ~7.5 M (benchmarks/RESULTS.md, "CUDA embedder"). Each worker process has a
GIL of its own, and what crosses back is two arrays, pickled as bytes.

Most chunks are plain ASCII. For them a BERT tokenizer's normalizer (Unicode clean-up, accent
stripping, CJK spacing, all tracked character by character) changes nothing but the case,
so ``AsciiFastPath`` lowercases in Python and runs the same vocabulary without it: the ids are
the same (tests/unit/test_token_ids.py checks it) at about 1.7 times the speed.

Truncation is done here, not by the tokenizer, so that the caller also learns each text's
full length (``/v1/embeddings`` reports the tokens it was sent, as the CPU path does): a row
longer than the model reads keeps its leading tokens and its closing special tokens, exactly
what the tokenizer's own truncation gives for a single sequence.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from multiprocessing.pool import AsyncResult

import numpy as np
from tokenizers import Encoding, Tokenizer

from ragserve.embed.base import Ints

#: Texts a worker encodes per task: big enough that the hop costs little (~0.1 ms against
#: ~10 ms of tokenising), small enough that every process has work in a call of 2,048 texts.
SLICE_TEXTS = 128


@dataclass(frozen=True)
class TokenIds:
    """Every text's ids back to back in ``flat``; text i is ``flat[starts[i]:][:full[i]]``."""

    full: Ints  # tokens of each text, special tokens included, before truncation
    flat: Ints

    @cached_property
    def starts(self) -> Ints:
        starts = np.zeros(len(self.full), dtype=np.int64)
        np.cumsum(self.full[:-1], out=starts[1:])
        return starts.astype(np.int32)

    @staticmethod
    def join(parts: Sequence[TokenIds]) -> TokenIds:
        if len(parts) == 1:
            return parts[0]
        return TokenIds(
            np.concatenate([p.full for p in parts]), np.concatenate([p.flat for p in parts])
        )


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> TokenIds:
    """Tokenise in this process (special tokens added, no truncation, no padding)."""
    # encode_batch_fast skips the character offsets, which nothing here needs.
    return _arrays(tokenizer.encode_batch_fast(list(texts), add_special_tokens=True))


def _arrays(encodings: Sequence[Encoding]) -> TokenIds:
    full = np.fromiter((len(e) for e in encodings), dtype=np.int32, count=len(encodings))
    flat = np.fromiter(
        itertools.chain.from_iterable(e.ids for e in encodings),
        dtype=np.int32,
        count=int(full.sum()),
    )
    return TokenIds(full, flat)


#: ASCII control characters the BERT normalizer deletes (tab, newline and return it turns
#: into spaces, which the pre-tokenizer splits on anyway).
_DELETED_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


#: BERT's pre-tokenizer on ASCII text: runs of letters and digits, and every punctuation
#: character on its own (its ``is_punctuation`` counts all of ASCII's 32 as punctuation).
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")

#: Words whose WordPiece ids are kept, and the longest word kept: real text repeats a few
#: thousand words (17,500 in 1.3 M tokens of the standard library's sources), and nearly all
#: are short. Bounded for any input, per process (the tokenizer processes each hold one):
#: 27 MiB measured when filled with random 24-character words, each cut into many pieces.
#: Other words are cut anew each time (still exact, only slower).
WORD_CACHE_WORDS = 1 << 15
WORD_CACHE_MAX_CHARS = 24


class AsciiFastPath:
    """The model's tokenizer, with its per-token work skipped for texts that allow it.

    For a BERT tokenizer (``BertNormalizer``, ``BertPreTokenizer``, ``WordPiece``) and a text
    of plain ASCII without control characters, the normalizer changes nothing but the case,
    the pre-tokenizer splits into runs of letters and digits and single punctuation marks, and
    WordPiece cuts each word on its own. So the ids are: the special tokens around each word's
    pieces, and a word's pieces never change — they are remembered (``_Words``). On the lent
    GPU machine the Rust tokenizer, at about 0.5 M tokens/s a core, was what kept
    ``/v1/embeddings`` under the GPU; remembered words give ~4 M tokens/s a core in Python
    (benchmarks/RESULTS.md, "fifth pass"). Texts that hold an added token's text (``[SEP]``)
    and any other tokenizer (SentencePiece models' NFKC, say) keep the full tokenizer; the
    ids are the same either way (tests/unit/test_token_ids.py).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.full = tokenizer
        spec = json.loads(tokenizer.to_str())
        self.lowercase = bool((spec.get("normalizer") or {}).get("lowercase", True))
        self.words: _Words | None = None
        added_tokens = spec.get("added_tokens") or []
        if (
            (spec.get("normalizer") or {}).get("type") == "BertNormalizer"
            and (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
            and (spec.get("model") or {}).get("type") == "WordPiece"
            # Truncation and padding change rows; the callers here turn both off.
            and not spec.get("truncation")
            and not spec.get("padding")
            # An added word matched after normalising ("Café" matching "cafe") cannot be
            # found in the raw text; such tokenizers keep the tokenizer for everything.
            and not any(a.get("normalized") and not a.get("special") for a in added_tokens)
        ):
            around = _special_ids(tokenizer)
            if around is not None:  # else an odd template: the tokenizer does it all
                self._around = around
                max_chars = int(spec["model"].get("max_input_chars_per_word", 100))
                self.words = _Words(tokenizer, max_chars)
            added = [a["content"] for a in added_tokens if a.get("content")]
            self._added = (
                re.compile("|".join(map(re.escape, added)), re.IGNORECASE) if added else None
            )

    @property
    def plain(self) -> bool:
        """Whether any text can skip the tokenizer (a BERT tokenizer)."""
        return self.words is not None

    def _simple(self, text: str) -> bool:
        return (
            text.isascii()
            and _DELETED_CONTROLS.search(text) is None
            and (self._added is None or self._added.search(text) is None)
        )

    def encode(self, texts: Sequence[str]) -> TokenIds:
        if self.words is None:
            return encode(self.full, texts)
        simple = [self._simple(t) for t in texts]
        if all(simple):
            return self._from_words(texts)
        rest = [t for t, ok in zip(texts, simple, strict=True) if not ok]
        others = iter(self.full.encode_batch_fast(rest, add_special_tokens=True))
        rows: list[Sequence[int]] = [
            self._word_ids(t) if ok else next(others).ids
            for t, ok in zip(texts, simple, strict=True)
        ]
        full = np.fromiter(map(len, rows), dtype=np.int32, count=len(rows))
        flat = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.int32, count=int(full.sum())
        )
        return TokenIds(full, flat)

    def _word_ids(self, text: str) -> list[int]:
        assert self.words is not None
        before, after = self._around
        pieces = self.words.__getitem__
        words = _ASCII_WORDS.findall(text.lower() if self.lowercase else text)
        return [*before, *itertools.chain.from_iterable(map(pieces, words)), *after]

    def _from_words(self, texts: Sequence[str]) -> TokenIds:
        assert self.words is not None
        before, after = self._around
        pieces = self.words.__getitem__
        find = _ASCII_WORDS.findall
        lower = self.lowercase
        flat: list[int] = []
        full = np.empty(len(texts), dtype=np.int32)
        for i, text in enumerate(texts):
            n = len(flat)
            flat += before
            words = find(text.lower() if lower else text)
            flat += itertools.chain.from_iterable(map(pieces, words))
            flat += after
            full[i] = len(flat) - n
        return TokenIds(full, np.array(flat, dtype=np.int32))


class _Words(dict[str, tuple[int, ...]]):
    """A word's WordPiece ids, cut by the tokenizer's own model the first time it is seen."""

    def __init__(self, tokenizer: Tokenizer, max_chars: int) -> None:
        super().__init__()
        self._model = Tokenizer.from_str(tokenizer.to_str()).model
        self._max_chars = max_chars
        self._unk = tokenizer.token_to_id(getattr(self._model, "unk_token", "[UNK]")) or 0

    def __missing__(self, word: str) -> tuple[int, ...]:
        if len(word) > self._max_chars:
            return (self._unk,)  # WordPiece's own rule for over-long words
        ids = tuple(t.id for t in self._model.tokenize(word))
        if len(word) <= WORD_CACHE_MAX_CHARS and len(self) < WORD_CACHE_WORDS:
            self[word] = ids
        return ids


def _special_ids(tokenizer: Tokenizer) -> tuple[list[int], list[int]] | None:
    """The ids the post-processor puts before and after a single text's own (None when it
    does not keep them in one piece)."""
    probe = "hello world"
    inner = tokenizer.encode(probe, add_special_tokens=False).ids
    whole = tokenizer.encode(probe, add_special_tokens=True).ids
    for k in range(len(whole) - len(inner) + 1):
        if whole[k : k + len(inner)] == inner:
            return whole[:k], whole[k + len(inner) :]
    return None


@dataclass(frozen=True)
class SpecialTokens:
    """How many special tokens the tokenizer puts before and after a single text."""

    before: int
    after: int

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> SpecialTokens:
        probe = "hello world"
        plain = tokenizer.encode(probe, add_special_tokens=False).ids
        full = tokenizer.encode(probe, add_special_tokens=True).ids
        for before in range(len(full) - len(plain) + 1):
            if full[before : before + len(plain)] == plain:
                return cls(before, len(full) - len(plain) - before)
        return cls(0, len(full) - len(plain))  # odd templates: count them all as closing

    @property
    def total(self) -> int:
        return self.before + self.after


def pad_rows(
    ids: TokenIds,
    rows: Sequence[int],
    *,
    max_tokens: int,
    closing: int,
    pad_id: int,
) -> tuple[Ints, Ints]:
    """The padded id matrix of ``rows`` and each row's length in it.

    A text longer than ``max_tokens`` keeps its first ``max_tokens - closing`` ids and its
    last ``closing`` (the closing special tokens), as the tokenizer's truncation would.
    """
    index = np.asarray(rows, dtype=np.int64)
    full = ids.full[index].astype(np.int64)
    kept = np.minimum(full, max_tokens)
    width = int(kept.max())
    total = int(kept.sum())
    starts = ids.starts[index].astype(np.int64)
    # For every kept token: its row, its column, and where it sits in ``flat``.
    row_of = np.repeat(np.arange(len(index)), kept)
    col = np.arange(total) - np.repeat(np.cumsum(kept) - kept, kept)
    skip = np.repeat(full - kept, kept)  # ids dropped from the middle of a long row
    source = np.repeat(starts, kept) + col + np.where(col >= max_tokens - closing, skip, 0)
    matrix = np.full((len(index), width), pad_id, dtype=np.int32)
    matrix[row_of, col] = ids.flat[source]
    return matrix, kept.astype(np.int32)


# -- worker processes ----------------------------------------------------------------------
_worker_tokenizer: AsciiFastPath | None = None


def _start_worker(tokenizer_json: str) -> None:
    global _worker_tokenizer
    # One core per process: the pool is the parallelism (Rust's own pool would oversubscribe).
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_tokenizer = AsciiFastPath(Tokenizer.from_str(tokenizer_json))


def _encode_in_worker(texts: list[str]) -> TokenIds:
    assert _worker_tokenizer is not None, "the pool's initializer loads the tokenizer"
    return _worker_tokenizer.encode(texts)


def _slices(texts: Sequence[str]) -> list[list[str]]:
    return [list(texts[i : i + SLICE_TEXTS]) for i in range(0, len(texts), SLICE_TEXTS)]


class _Joiner:
    """Collects the slices of one call tokenised in worker processes, then reports once."""

    def __init__(self, parts: int, done: Callable[[TokenIds | BaseException], None]) -> None:
        self._parts: list[TokenIds | None] = [None] * parts
        self._left = parts
        self._done = done
        self._lock = threading.Lock()

    def part(self, k: int) -> Callable[[TokenIds], None]:
        def arrived(ids: TokenIds) -> None:
            with self._lock:
                self._parts[k] = ids
                self._left -= 1
                last = self._left == 0
            if last:
                self._done(TokenIds.join([p for p in self._parts if p is not None]))

        return arrived

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._left > 0
            self._left = 0  # the other slices' results are dropped
        if first:
            self._done(exc)


class TokenizerPool:
    """``processes`` worker processes that tokenise slices of a call side by side."""

    def __init__(self, tokenizer: Tokenizer, processes: int) -> None:
        tokenizer = Tokenizer.from_str(tokenizer.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.processes = processes
        # spawn: a forked child of a process that has initialised CUDA cannot use it, and
        # fork with threads running is unsafe anyway. A Pool starts every worker now (a
        # spawn costs a second or more); ProcessPoolExecutor would start them one by one
        # under the first big call, and that call would wait for the imports.
        self._pool = multiprocessing.get_context("spawn").Pool(
            processes, initializer=_start_worker, initargs=(tokenizer.to_str(),)
        )

    def submit(self, texts: list[str]) -> AsyncResult[TokenIds]:
        return self._pool.apply_async(_encode_in_worker, (texts,))

    def encode(self, texts: Sequence[str]) -> TokenIds:
        pending = [self.submit(part) for part in _slices(texts)]
        return TokenIds.join([p.get() for p in pending])

    def encode_async(
        self, texts: Sequence[str], done: Callable[[TokenIds | BaseException], None]
    ) -> None:
        """``encode`` without waiting: ``done`` gets the ids (or the first error) once, on
        the pool's result thread."""
        parts = _slices(texts)
        joiner = _Joiner(len(parts), done)
        for k, part in enumerate(parts):
            self._pool.apply_async(
                _encode_in_worker, (part,), callback=joiner.part(k), error_callback=joiner.failed
            )

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
