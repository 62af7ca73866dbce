"""Keyword (BM25) terms of real text, with and without remembering each word's terms, side
by side: the standard library's own sources cut into 1,000-character texts (identifiers,
prose and code, as in a technical manual). Checks the terms are the same both ways.

    python -m benchmarks.keyword_terms
"""

from __future__ import annotations

import sysconfig
import time
from pathlib import Path
from unittest import mock

from ragserve.embed import terms as rules


def cached(texts: list[str]) -> list[list[str]]:
    return [rules.terms(t) for t in texts]


def uncached(texts: list[str]) -> list[list[str]]:
    """``terms`` cutting every word afresh, as it did before ``known_word_terms``."""
    with mock.patch.object(rules, "known_word_terms", rules._word_terms):
        return cached(texts)


def main() -> None:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    texts = []
    for f in files:
        source = f.read_text(encoding="utf-8", errors="replace")
        texts += [source[i : i + 1000] for i in range(0, len(source), 1000)]
    texts = [t for t in texts if not rules._HAS_HANGUL.search(t)][:20000]
    print(f"{len(texts)} texts of 1,000 characters from {len(files)} standard-library modules")
    rates: dict[str, float] = {}
    for name, fn in (("uncached", uncached), ("cached", cached)) * 2:
        rules.known_word_terms.cache_clear()  # each run starts cold
        started = time.perf_counter()
        found = sum(len(t) for t in fn(texts))
        rate = len(texts) / (time.perf_counter() - started)
        rates[name] = max(rates.get(name, 0.0), rate)
        print(f"{name:>9}: {rate:,.0f} texts/s ({found:,} terms)")
    assert uncached(texts) == cached(texts), "terms differ"
    print(
        f"same terms; cached / uncached: {rates['cached'] / rates['uncached']:.2f}x "
        f"({rules.known_word_terms.cache_info().currsize:,} distinct words)"
    )


if __name__ == "__main__":
    main()
