"""Tokenising for the CUDA embedder, one core: the Rust tokenizer against remembered words.

Side by side on the same texts, each on one thread (the embedder runs one such loop in each
tokenizer process): the full Rust tokenizer (BERT's normalizer included), the path before
remembered words (Rust with the normalizer skipped for plain ASCII), and ``AsciiFastPath``
now (each word's WordPiece ids remembered), with a cold memory (first pass) and a warm one.
Two sets of texts: the GPU benchmarks' synthetic chunks (a small vocabulary, so every word
is remembered after the first few texts) and real text — the standard library's own sources
cut into 1,000-character pieces (identifiers, prose and code, as in a technical manual).
The ids are checked to be identical. The physical limit printed beside: the time to only
split the texts into words (the regex, no ids), which any word-level tokenizer pays.

    python -m benchmarks.tokenize_words [--tokenizer DIR/tokenizer.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from benchmarks.gpu_embed_workload import chunk_texts
from ragserve.embed import packaged
from ragserve.embed.token_ids import _ASCII_WORDS, AsciiFastPath, TokenIds, encode


def stdlib_texts(n: int) -> list[str]:
    texts: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = path.read_text(errors="replace")
        texts += [text[i : i + 1000] for i in range(0, len(text) - 999, 1000)]
        if len(texts) >= n:
            break
    return texts[:n]


def rust_without_normalizer(tokenizer: Tokenizer) -> Callable[[Sequence[str]], TokenIds]:
    """The path before remembered words: lowercase in Python, Rust without the normalizer."""
    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.normalizer = None
    return lambda texts: encode(plain, [t.lower() for t in texts])


def rate(fn: Callable[[], object], tokens: int, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return tokens / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--texts", type=int, default=8000)
    args = parser.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core, as in a tokenizer process
    path = args.tokenizer or packaged.minilm_folder() / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    sets = {
        "GPU benchmark chunks": chunk_texts(path, args.texts, seed=3),
        "stdlib sources": stdlib_texts(args.texts),
    }
    old = rust_without_normalizer(tokenizer)
    print(f"{'texts':<22} {'path':<40} {'M tok/s':>8} {'vs before':>9}")
    for name, texts in sets.items():
        ascii_share = sum(t.isascii() for t in texts) / len(texts)
        reference = encode(tokenizer, texts)
        tokens = int(reference.full.sum())
        fresh = AsciiFastPath(tokenizer)
        t0 = time.perf_counter()
        now = fresh.encode(texts)  # cold: every word seen for the first time is cut
        cold = tokens / (time.perf_counter() - t0)
        assert np.array_equal(now.full, reference.full) and np.array_equal(
            now.flat, reference.flat
        ), "remembered words must give the tokenizer's own ids"
        before = rate(lambda: old(texts), tokens)  # noqa: B023
        rows = [
            ("Rust tokenizer, full normalizer", rate(lambda: encode(tokenizer, texts), tokens)),  # noqa: B023
            ("before: Rust, normalizer skipped", before),
            ("now: remembered words, cold", cold),
            ("now: remembered words, warm", rate(lambda: fresh.encode(texts), tokens)),  # noqa: B023
            (
                "limit: splitting into words only",
                rate(lambda: [_ASCII_WORDS.findall(t.lower()) for t in texts], tokens),  # noqa: B023
            ),
        ]
        for label, value in rows:
            print(f"{name:<22} {label:<40} {value / 1e6:>8.2f} {value / before:>8.2f}x")
        words = len(fresh.words or {})
        print(
            f"{name:<22} {len(texts)} texts, {tokens:,} tokens, {ascii_share:.0%} ASCII, "
            f"{words:,} distinct words remembered"
        )


if __name__ == "__main__":
    main()
