"""Citations from plain text, so they work with any model, without tools or JSON mode.

The model is asked to write ``[n]`` markers. When it writes none (small models often
don't), each answer sentence is matched to a source and a marker is added where it matches:

1. by the words it shares with the sources (no model: microseconds per answer), when that
   decides clearly — the sentence repeats a source's words and word pairs, or a long
   sentence shares no word with any source;
2. by embedding similarity for the sentences left ambiguous (a paraphrase, a short
   sentence), which costs the embedding model a forward pass.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.protocol import Citation

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A full stop inside a word (functools.lru_cache, 3.11, e.g) does not end the sentence.
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\w))+[.!?]*")
_WORD = re.compile(r"\w+")

#: Cosine similarity a sentence needs to be attributed to a source (MiniLM scale).
ATTRIBUTION_THRESHOLD = 0.45

# Lexical decisions (calibrated against the embedding decision; see tests/unit/test_attribution.py).
#: A sentence is a source's when this share of its content words is in that source...
LEXICAL_MATCH_WORDS = 0.7
#: ...and this share of its adjacent word pairs too (order matters: a copy, not a word salad).
LEXICAL_MATCH_PAIRS = 0.5
#: A sentence of at least this many content words, none of which is in any source, has none.
LEXICAL_NONE_MIN_WORDS = 8

_STOPWORDS = frozenset(
    "a an the and or but if then than so of to in on at by for with from as into about "
    "is are was were be been being am do does did has have had will would can could shall "
    "should may might must it its this that these those there here i you he she we they me "
    "him her us them my your his our their what which who whom whose when where why how "
    "not no yes all any each some such only also very just more most other own same too".split()
)


def cited_numbers(answer: str, count: int) -> list[int]:
    """Source numbers cited in ``answer``, in order of first use, within 1..count."""
    seen: list[int] = []
    for match in _MARKER.finditer(answer):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if 1 <= n <= count and n not in seen:
                seen.append(n)
    return seen


def answer_sentences(answer: str) -> list[tuple[int, int]]:
    """Spans of the sentences worth attributing (three words or more)."""
    return [m.span() for m in _SENTENCE.finditer(answer) if len(m.group().split()) >= 3]


def _words(text: str) -> list[str]:
    """Lower-cased content words, plural ``s`` dropped, so "Employees" meets "employee"."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        out.append(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


@dataclass(frozen=True, slots=True)
class _SourceWords:
    words: frozenset[str]
    pairs: frozenset[tuple[str, str]]

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def of(text: str) -> _SourceWords:
        # Cached: popular passages are retrieved again and again, and this runs on the
        # event loop (pure Python holds the GIL, so a thread would not free the loop).
        words = _words(text)
        return _SourceWords(frozenset(words), frozenset(itertools.pairwise(words)))


#: Not decided by words: embed it.
AMBIGUOUS = -1


def lexical_decisions(
    answer: str, spans: Sequence[tuple[int, int]], sources: Sequence[Citation]
) -> list[int | None]:
    """Per sentence: the source number it repeats, ``None`` for none, or ``AMBIGUOUS``."""
    indexed = [_SourceWords.of(s.text) for s in sources]
    decisions: list[int | None] = []
    for start, end in spans:
        words = _words(answer[start:end])
        unique = set(words)
        pairs = set(itertools.pairwise(words))
        if not unique:
            decisions.append(AMBIGUOUS)
            continue
        # Best by share of word pairs, then of words; the better-ranked source on a tie
        # (overlapping chunks both hold a sentence written across their seam).
        scores = [
            (
                len(pairs & src.pairs) / len(pairs) if pairs else 0.0,
                len(unique & src.words) / len(unique),
                -source.n,
            )
            for src, source in zip(indexed, sources, strict=True)
        ]
        pair_share, word_share, negative_n = max(scores)
        if word_share >= LEXICAL_MATCH_WORDS and pair_share >= LEXICAL_MATCH_PAIRS:
            decisions.append(-negative_n)
        elif word_share == 0.0 and len(unique) >= LEXICAL_NONE_MIN_WORDS:
            decisions.append(None)
        else:
            decisions.append(AMBIGUOUS)
    return decisions


def similarity_decisions(
    sentence_vectors: Vectors, sources: Sequence[Citation], embedder: EmbeddingBackend
) -> list[int | None]:
    """Per embedded sentence: the most similar source's number, or ``None`` below the
    threshold."""
    if all(s.vector is not None for s in sources):  # the stored vectors: no second pass
        source_vectors = np.array([s.vector for s in sources], dtype=np.float32)
    else:
        source_vectors = embedder.embed_passages([s.text for s in sources])
    similarity = sentence_vectors @ source_vectors.T
    decisions: list[int | None] = []
    for row in similarity:
        best = int(np.argmax(row))
        decisions.append(sources[best].n if row[best] >= ATTRIBUTION_THRESHOLD else None)
    return decisions


def insert_markers(
    answer: str, spans: Sequence[tuple[int, int]], decisions: Sequence[int | None]
) -> tuple[str, list[int]]:
    """``answer`` with `` [n]`` after each sentence attributed to source n, and the numbers
    in order of first use."""
    out: list[str] = []
    cursor = 0
    numbers: list[int] = []
    for (_start, end), n in zip(spans, decisions, strict=True):
        out.append(answer[cursor:end])
        cursor = end
        if n is not None and n != AMBIGUOUS:
            out.append(f" [{n}]")
            if n not in numbers:
                numbers.append(n)
    out.append(answer[cursor:])
    return "".join(out), numbers


def attribute_by_similarity(
    answer: str,
    sources: Sequence[Citation],
    embedder: EmbeddingBackend,
    sentence_vectors: Vectors | None = None,
) -> tuple[str, list[int]]:
    """Add ``[n]`` after each sentence that closely matches source n, by embedding alone.

    ``sentence_vectors`` are the query embeddings of ``answer_sentences(answer)`` if the
    caller has them already.
    """
    spans = answer_sentences(answer)
    if not spans or not sources:
        return answer, []
    if sentence_vectors is None:
        sentence_vectors = embedder.embed_queries([answer[s:e] for s, e in spans])
    return insert_markers(answer, spans, similarity_decisions(sentence_vectors, sources, embedder))


def attribute(
    answer: str, sources: Sequence[Citation], embedder: EmbeddingBackend
) -> tuple[str, list[int]]:
    """Add ``[n]`` markers: words first, the embedding model only for what they leave open.

    Blocking (it may run the model): the server calls it through ``Attribution`` instead.
    """
    plan = Attribution.plan(answer, sources)
    vectors = embedder.embed_queries(plan.ambiguous_sentences) if plan.ambiguous_sentences else None
    return plan.finish(embedder, vectors)


@dataclass(slots=True)
class Attribution:
    """One answer's attribution in two steps, so the embedding in between can be awaited
    through the batcher: ``plan`` (words), then ``finish`` (the ambiguous sentences'
    vectors, if any)."""

    answer: str
    sources: Sequence[Citation]
    spans: list[tuple[int, int]]
    decisions: list[int | None]

    @classmethod
    def plan(cls, answer: str, sources: Sequence[Citation]) -> Attribution:
        spans = answer_sentences(answer) if sources else []
        return cls(answer, sources, spans, lexical_decisions(answer, spans, sources))

    @property
    def ambiguous_sentences(self) -> list[str]:
        return [
            self.answer[s:e]
            for (s, e), d in zip(self.spans, self.decisions, strict=True)
            if d == AMBIGUOUS
        ]

    def finish(
        self, embedder: EmbeddingBackend, ambiguous_vectors: Vectors | None
    ) -> tuple[str, list[int]]:
        decisions = list(self.decisions)
        if ambiguous_vectors is not None and len(ambiguous_vectors):
            embedded = iter(similarity_decisions(ambiguous_vectors, self.sources, embedder))
            decisions = [next(embedded) if d == AMBIGUOUS else d for d in decisions]
        return insert_markers(self.answer, self.spans, decisions)
