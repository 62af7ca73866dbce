"""Would discounting "hub" passages lift dense and hybrid retrieval? Measured, not shipped.

On the whole Python manual the wrong first pages are mostly release notes (``whatsnew/*``),
FAQs and how-tos: passages that touch many subjects in a few words each. In embedding
space such passages are *hubs* — near neighbours of far more passages (and questions) than
their share — a known effect of high-dimensional nearest-neighbour search (Radovanović et
al., 2010). The standard correction is CSLS (Conneau et al., 2018): a passage's score is
its cosine to the question minus ``lam`` × its mean cosine to its ``k`` nearest neighbours
(here among passages of *other* documents, so that a page is not penalised for being long
and consistent with itself). It needs no model and no labels: ``r`` is a property of the
collection, computable at index time.

For each set: every dense vector is read from the collection (a copy), ``r`` computed by
blocked exact search, and each question's dense top ``WIDE`` and keyword top ``WIDE``
(what the store's prefetch brings to a top-10 hybrid search) re-scored: ``dense-csls``
re-orders the dense candidates by ``cos - lam * r``; ``hybrid-csls`` fuses that order with
the keyword order by RRF, as the store does. MRR@10 on the page, dev and test; ``lam`` = 0
is today's dense and hybrid, computed by the same code (the baseline, side by side). The
ceiling is 1.0.

    python -m benchmarks.hubness [--data-root /work/evaldata] [--set en|ko-e5|ko-minilm]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from benchmarks import page_evidence
from benchmarks._common import machine
from benchmarks.page_evidence import WIDE, Case, gather, mrr, opened
from ragserve.store.vectors import RRF_K, SearchHit

ROOT = Path(__file__).resolve().parent
#: key → page_evidence's (label, QA file, data dir, collection, embedding model)
SETS = dict(zip(("en", "ko-minilm", "ko-e5"), page_evidence.SETS, strict=True))
NEIGHBOURS = 10
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _key(hit: SearchHit) -> tuple[str, int]:
    return (hit.payload.document_id, hit.payload.chunk_index)


def all_vectors(shard: qe.EdgeShard) -> tuple[list[tuple[str, int]], list[str], np.ndarray]:
    keys: list[tuple[str, int]] = []
    docs: list[str] = []
    rows: list[list[float]] = []
    offset = None
    while True:
        request = qe.ScrollRequest(offset=offset, limit=2048, with_payload=True, with_vector=[""])
        records, offset = shard.scroll(request)
        for r in records:
            payload = dict(r.payload or {})
            vector: object = r.vector
            if isinstance(vector, dict):
                vector = vector.get("")
            keys.append((str(payload["document_id"]), int(payload["chunk_index"])))
            docs.append(str(payload["document_id"]))
            assert isinstance(vector, list), "a dense vector"
            rows.append(vector)
        if offset is None:
            break
    matrix = np.asarray(rows, dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12
    return keys, docs, matrix


def hub_scores(docs: list[str], matrix: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Mean cosine of each passage to its ``k`` nearest passages of other documents."""
    doc_ids = np.unique(np.asarray(docs), return_inverse=True)[1]
    out = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), 1024):
        block = matrix[start : start + 1024] @ matrix.T
        block[doc_ids[start : start + 1024, None] == doc_ids[None, :]] = -1.0
        top = np.partition(block, -k, axis=1)[:, -k:]
        out[start : start + 1024] = top.mean(axis=1)
    return out


def cases_and_hubs(
    qa: Path, data: Path, collection: str, model: str
) -> tuple[list[Case], dict[tuple[str, int], float], dict[str, float]]:
    with opened(data, collection, model) as (runtime, row):
        cases = gather(runtime, row, qa)
        shard = runtime.catalog.vectors._shard(row.vector_collection)  # type: ignore[attr-defined]
        started = time.perf_counter()
        keys, docs, matrix = all_vectors(shard)
        hubs = hub_scores(docs, matrix)
        took = time.perf_counter() - started
    stats = {"passages": float(len(keys)), "seconds": took}
    return cases, dict(zip(keys, hubs.tolist(), strict=True)), stats


def dense_order(case: Case, hubs: dict[tuple[str, int], float], lam: float) -> list[SearchHit]:
    return sorted(case.dense, key=lambda h: -(h.score - lam * hubs.get(_key(h), 0.0)))


def dense_ranked(case: Case, hubs: dict[tuple[str, int], float], lam: float) -> list[str]:
    return [h.payload.source for h in dense_order(case, hubs, lam)]


def hybrid_ranked(case: Case, hubs: dict[tuple[str, int], float], lam: float) -> list[str]:
    """The re-scored dense order fused with the keyword order by RRF, as the store does."""
    dense = dense_order(case, hubs, lam)
    score: dict[tuple[str, int], float] = defaultdict(float)
    source: dict[tuple[str, int], str] = {}
    for hits in (dense, case.sparse):
        for rank, h in enumerate(hits, 1):
            score[_key(h)] += 1 / (RRF_K + rank)
            source[_key(h)] = h.payload.source
    return [source[k] for k, _ in sorted(score.items(), key=lambda kv: -kv[1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("/work/evaldata"))
    parser.add_argument("--set", action="append", choices=sorted(SETS))
    args = parser.parse_args()
    print(f"{machine()}; MRR@10 (page), candidates: top {WIDE} of each side, k = {NEIGHBOURS}")
    print(f"{'set':32s} {'variant':24s} {'dev':>6s} {'test':>6s}")
    for key in args.set or list(SETS):
        label, qa, data, collection, model = SETS[key]
        if not (args.data_root / data).is_dir():
            print(f"{label:32s} (no data dir {args.data_root / data}: run retrieval_eval first)")
            continue
        cases, hubs, stats = cases_and_hubs(ROOT / "eval" / qa, args.data_root / data,
                                            collection, model)  # fmt: skip
        print(f"{label:32s} hub scores for {stats['passages']:.0f} passages in "
              f"{stats['seconds']:.1f} s")  # fmt: skip
        for lam in LAMBDAS:
            for name, rank in (
                (f"dense-csls {lam:.2f}", partial(dense_ranked, hubs=hubs, lam=lam)),
                (f"hybrid-csls {lam:.2f}", partial(hybrid_ranked, hubs=hubs, lam=lam)),
            ):
                dev, test = mrr(cases, "dev", rank), mrr(cases, "test", rank)
                print(f"{label:32s} {name:24s} {dev:6.3f} {test:6.3f}", flush=True)


if __name__ == "__main__":
    main()
