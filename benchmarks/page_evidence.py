"""Would page-level evidence lift hybrid retrieval? Two query-time re-scorings, measured.

Hybrid fuses the dense and keyword rankings of *passages* (RRF). The evaluation asks for the
right *page*, and on the whole Python manual the pages that merely mention a name (release
notes, FAQs) often come first. Two standard remedies are tried on the fused candidates (the
top 40 of each side, as the store's prefetch brings them), nothing re-indexed:

- **title match** (BM25F-style title field): the share of the question's terms, weighted by
  how rare each is among the candidates' page titles (the page's first heading), that the
  title holds; added as ``gamma / (k + 1)``, so 1.0 is worth one first place in RRF;
- **page aggregation**: each passage gains ``agg`` × the fused scores of its page's next three
  best passages (a page with several matching passages is more likely about the question).

Parameters were picked on the English dev half (grid gamma 0–2 × agg 0–0.3); the rows below
are the dev-best of that grid and the simplest single-knob variants, on every set the
evaluation data holds, dev and test, MRR@10 of the first relevant passage (as ``ragserve
eval``). The physical limit is 1.0.

    python -m benchmarks.page_evidence [--data-root /work/evaldata]
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks._common import machine
from ragserve.config import Settings
from ragserve.embed.sparse import query_vector
from ragserve.embed.terms import terms
from ragserve.eval.metrics import source_matches
from ragserve.eval.questions import load_questions
from ragserve.runtime import Runtime
from ragserve.store.tables import CollectionRow
from ragserve.store.vectors import RRF_K, SearchHit, prefetch_limit

ROOT = Path(__file__).resolve().parent
#: (label, QA file, data dir under --data-root, collection, embedding model)
SETS = [
    ("en whole manual, MiniLM", "python311-en.jsonl", "en-full-all-minilm-l6-v2-int8",
     "pydocs", "all-MiniLM-L6-v2-int8"),
    ("ko 72 pages, MiniLM", "gimp-ko.jsonl", "ko-korean-all-minilm-l6-v2-int8",
     "gimp", "all-MiniLM-L6-v2-int8"),
    ("ko 72 pages, e5 (multilingual)", "gimp-ko.jsonl", "ko-korean-multilingual-e5-small-q4",
     "gimp", "multilingual-e5-small-q4"),
]  # fmt: skip
WIDE = prefetch_limit(10)  # what each side brings to a top-10 hybrid search
VARIANTS: list[tuple[str, float, float]] = [
    ("hybrid (RRF, today's default)", 0.0, 0.0),
    ("+ title match 1.0", 1.0, 0.0),
    ("+ page aggregation 0.1", 0.0, 0.1),
    ("+ title 1.0 + aggregation 0.1", 1.0, 0.1),
    ("+ title 2.0 + aggregation 0.2 (English dev best)", 2.0, 0.2),
]


@dataclass
class Case:
    split: str
    expected: list[str]
    question: str
    dense: list[SearchHit]
    sparse: list[SearchHit]


def _heading(hit: SearchHit) -> str:
    return hit.payload.heading[0] if hit.payload.heading else (hit.payload.title or "")


def title_match(case: Case) -> dict[str, float]:
    pages = {h.payload.source: set(terms(_heading(h))) for h in case.dense + case.sparse}
    wanted = list(dict.fromkeys(terms(case.question)))
    idf = {t: math.log(1 + len(pages) / (1 + sum(t in s for s in pages.values()))) for t in wanted}
    total = sum(idf.values()) or 1.0
    return {src: sum(idf[t] for t in wanted if t in s) / total for src, s in pages.items()}


def ranked(case: Case, gamma: float, agg: float) -> list[str]:
    score: dict[tuple[str, int], float] = defaultdict(float)
    for hits in (case.dense, case.sparse):
        for rank, h in enumerate(hits, 1):
            score[(h.payload.source, h.payload.chunk_index)] += 1 / (RRF_K + rank)
    if gamma:
        match = title_match(case)
        for key in score:
            score[key] += gamma * match.get(key[0], 0.0) / (RRF_K + 1)
    if agg:
        per_page: dict[str, list[float]] = defaultdict(list)
        for (src, _i), s in score.items():
            per_page[src].append(s)
        bonus = {src: sum(sorted(v, reverse=True)[1:4]) for src, v in per_page.items()}
        score = defaultdict(float, {k: s + agg * bonus[k[0]] for k, s in score.items()})
    return [src for (src, _i), _s in sorted(score.items(), key=lambda kv: -kv[1])]


def mrr(cases: list[Case], split: str, rank: Callable[[Case], list[str]]) -> float:
    chosen = [c for c in cases if c.split == split]
    total = 0.0
    for case in chosen:
        for i, src in enumerate(rank(case)[:10], 1):
            if any(source_matches(e, src) for e in case.expected):
                total += 1 / i
                break
    return total / len(chosen)


@contextmanager
def opened(data: Path, collection: str, model: str) -> Iterator[tuple[Runtime, CollectionRow]]:
    """A runtime over a copy of the data dir (opening one writes to it), and the collection."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "data"
        shutil.copytree(data, copy)
        with Runtime(Settings(data_dir=copy, embed_model=model)) as runtime:
            row = runtime.catalog.open(
                collection, runtime.embedder.model_id, runtime.embedder.dimension, create=False
            )
            yield runtime, row


def gather(runtime: Runtime, row: CollectionRow, qa: Path) -> list[Case]:
    """Each question's dense and keyword candidates, as the store's prefetch brings them."""
    questions = load_questions(qa)
    vectors = runtime.embedder.embed_queries([q.question for q in questions])
    search = runtime.catalog.vectors.search
    return [
        Case(
            q.split or "",
            [e.path for e in q.expected],
            q.question,
            search(row.vector_collection, v.tolist(), WIDE),
            search(row.vector_collection, None, WIDE, (), query_vector(q.question)),
        )
        for q, v in zip(questions, vectors, strict=True)
    ]


def candidates(qa: Path, data: Path, collection: str, model: str) -> list[Case]:
    with opened(data, collection, model) as (runtime, row):
        return gather(runtime, row, qa)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("/work/evaldata"))
    args = parser.parse_args()
    print(f"{machine()}; MRR@10, candidates: top {WIDE} of each side")
    print(f"{'set':32s} {'variant':50s} {'dev':>6s} {'test':>6s}")
    for label, qa, data, collection, model in SETS:
        cases = candidates(ROOT / "eval" / qa, args.data_root / data, collection, model)
        for name, gamma, agg in VARIANTS:
            rank = partial(ranked, gamma=gamma, agg=agg)
            dev = mrr(cases, "dev", rank)
            test = mrr(cases, "test", rank)
            print(f"{label:32s} {name:50s} {dev:6.3f} {test:6.3f}", flush=True)


if __name__ == "__main__":
    main()
