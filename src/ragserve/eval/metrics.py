"""Retrieval and answer metrics: pure functions over one question's ranked passages.

Definitions (``k`` counts passages, the unit a retriever returns and a prompt holds):

* A passage is **relevant** when its document matches one of the question's expected
  sources (:func:`source_matches`: path suffix, see there). Each expected source is credited
  once, at its first passage: later passages of the same page add nothing, so a retriever
  cannot score by returning one page ten times.
* **Ties** are broken against the retriever: passages with equal scores are reordered so the
  relevant ones come last in their group (the pessimistic order). An arbitrary tie order
  (BM25 gives many) then never counts as a hit.
* ``recall@k`` (a hit rate): 1 if any expected source is among the first ``k`` passages,
  else 0. Expected sources are alternatives — any one of them answers the question.
* ``MRR@k``: 1 / rank of the first relevant passage within ``k``, else 0.
* ``nDCG@k``: binary gains, ``DCG = Σ gain_i / log2(i + 1)`` over ranks ``i ≤ k``, divided by
  the ideal DCG, which ranks ``min(len(expected), k)`` relevant passages first.

Report means over questions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExpectedSource:
    """A document that answers the question; ``pages`` (1-based) narrows it to those pages."""

    path: str
    pages: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class RankedPassage:
    source: str
    score: float
    page: int | None = None


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]


def source_matches(expected: str, source: str) -> bool:
    """True when ``expected`` is a whole-component suffix of ``source``.

    ``library/os.html`` matches ``/usr/share/doc/python3.11/html/library/os.html`` and
    ``html/library/os.html``, but not ``library/xos.html`` or ``mylibrary/os.html``: a
    collection stores the path as ingestion discovered it (absolute or relative to where
    ``ragserve ingest`` ran), and the QA file names paths relative to the ingested root.
    """
    want, have = _parts(expected), _parts(source)
    return bool(want) and len(want) <= len(have) and have[-len(want) :] == want


def _matching(expected: Sequence[ExpectedSource], passage: RankedPassage) -> int | None:
    for i, e in enumerate(expected):
        if source_matches(e.path, passage.source) and (
            not e.pages or (passage.page is not None and passage.page in e.pages)
        ):
            return i
    return None


def gains(expected: Sequence[ExpectedSource], ranked: Sequence[RankedPassage]) -> list[int]:
    """1 at each rank that credits an expected source for the first time, 0 elsewhere.

    ``ranked`` is in the retriever's order (scores descending); equal-score runs are
    reordered relevant-last before crediting (see the module docstring).
    """
    ordered: list[RankedPassage] = []
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1].score == ranked[i].score:
            j += 1
        group = ranked[i : j + 1]
        # sorted() is stable: non-relevant first, each part in the retriever's order.
        ordered += sorted(group, key=lambda p: _matching(expected, p) is not None)
        i = j + 1
    credited: set[int] = set()
    out = []
    for passage in ordered:
        hit = _matching(expected, passage)
        if hit is not None and hit not in credited:
            credited.add(hit)
            out.append(1)
        else:
            out.append(0)
    return out


def first_rank(gain: Sequence[int]) -> int | None:
    """1-based rank of the first relevant passage, or None."""
    return next((i for i, g in enumerate(gain, 1) if g), None)


def recall_at(gain: Sequence[int], k: int) -> float:
    return 1.0 if any(gain[:k]) else 0.0


def reciprocal_rank(gain: Sequence[int], k: int) -> float:
    rank = first_rank(gain[:k])
    return 1.0 / rank if rank else 0.0


def ndcg_at(gain: Sequence[int], k: int, n_expected: int) -> float:
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(n_expected, k) + 1))
    if ideal == 0:
        return 0.0
    dcg = sum(g / math.log2(i + 1) for i, g in enumerate(gain[:k], 1))
    return dcg / ideal


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# --- answers -----------------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Case-folded, whitespace collapsed, outer punctuation trimmed: "Ctrl+Z." ~ "ctrl+z"."""
    return re.sub(r"\s+", " ", text.casefold()).strip().strip(".!?。\"'“”")


def answer_contains(answer: str, reference: str) -> bool:
    return normalise(reference) in normalise(answer)


def answer_exact(answer: str, reference: str) -> bool:
    return normalise(answer) == normalise(reference)


def citation_precision(expected: Sequence[ExpectedSource], cited: Sequence[str]) -> float | None:
    """Share of cited documents that are expected ones; None when nothing was cited."""
    documents = list(dict.fromkeys(cited))
    if not documents:
        return None
    good = sum(any(source_matches(e.path, doc) for e in expected) for doc in documents)
    return good / len(documents)
