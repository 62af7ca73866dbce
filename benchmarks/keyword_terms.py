"""Keyword (BM25) terms of real text, with and without remembering each word's terms, side
by side: the standard library's own sources cut into 1,000-character texts (identifiers,
prose and code, as in a technical manual). Checks the terms are the same both ways.

    python -m benchmarks.keyword_terms
"""

from __future__ import annotations

import sysconfig
import time
import unicodedata
from pathlib import Path

from ragserve.embed import terms as rules


def uncached(text: str) -> list[str]:
    """``terms`` as it was before ``_known_word_terms`` (non-Korean text)."""
    text = unicodedata.normalize("NFKC", text)
    rest = rules._CJK_RUN.sub(lambda m: f" {m.group()} ", text)
    out: list[str] = []
    for match in rules._WORD.finditer(rest):
        out.extend(rules._word_terms(match.group()))
    return out


def main() -> None:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    texts = []
    for f in files:
        source = f.read_text(encoding="utf-8", errors="replace")
        texts += [source[i : i + 1000] for i in range(0, len(source), 1000)]
    texts = [t for t in texts if not rules._HAS_HANGUL.search(t)][:20000]
    print(f"{len(texts)} texts of 1,000 characters from {len(files)} standard-library modules")
    rates: dict[str, float] = {}
    for name, fn in (("uncached", uncached), ("cached", rules.terms)) * 2:
        rules._known_word_terms.cache_clear()  # each run starts cold
        started = time.perf_counter()
        found = sum(len(fn(t)) for t in texts)
        rate = len(texts) / (time.perf_counter() - started)
        rates[name] = max(rates.get(name, 0.0), rate)
        print(f"{name:>9}: {rate:,.0f} texts/s ({found:,} terms)")
    assert all(uncached(t) == rules.terms(t) for t in texts), "terms differ"
    print(
        f"same terms; cached / uncached: {rates['cached'] / rates['uncached']:.2f}x "
        f"({rules._known_word_terms.cache_info().currsize:,} distinct words)"
    )


if __name__ == "__main__":
    main()
