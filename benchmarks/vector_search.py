"""Vector search latency and recall: Qdrant Edge (chosen) vs qdrant-client local mode.

Synthetic unit vectors in 384 dimensions (MiniLM's), drawn around 2,000 cluster centres so
neighbourhoods look like real embeddings; recall@10 is measured against exact search.

    python benchmarks/vector_search.py --sizes 10000,100000 [--local-max 100000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import machine, percentiles, save
from ragserve.store.edge import EdgeVectorStore
from ragserve.store.vectors import ChunkPoint, VectorStore

DIM = 384


def corpus(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 2000, n)] + 0.6 * rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def load(store: VectorStore, vectors: np.ndarray) -> float:
    started = time.perf_counter()
    store.create("bench", DIM)
    for start in range(0, len(vectors), 2000):
        block = vectors[start : start + 2000]
        store.upsert("bench", [
            ChunkPoint(_point_id(start + i), v.tolist(),
                       {"document_id": "d", "chunk_index": start + i})
            for i, v in enumerate(block)
        ])  # fmt: skip
        if start and start % 200_000 == 0:
            print(f"  loaded {start} points in {time.perf_counter() - started:.0f} s", flush=True)
    store.optimize("bench")
    return time.perf_counter() - started


def measure(store: VectorStore, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    for q in queries[:20]:  # warm-up
        store.search("bench", q.tolist(), 10)
    latencies, recalls = [], []
    for q, exact in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = store.search("bench", q.tolist(), 10)
        latencies.append((time.perf_counter() - started) * 1000)
        found = {int(h.payload["chunk_index"]) for h in hits}
        recalls.append(len(found & set(exact.tolist())) / 10)
    return {**percentiles(latencies), "recall_at_10": float(np.mean(recalls))}


def _point_id(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument(
        "--local-max",
        type=int,
        default=100_000,
        help="largest size to run the brute-force local mode at",
    )
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    results: dict[str, object] = {}
    print(f"machine: {machine()}")
    print(f"{'points':>9} {'store':<6} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9} {'load s':>8}")
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = corpus(n, rng)
        queries = corpus(args.queries, rng)
        # Exact top-10 sets (order within the set does not matter for recall).
        truth = np.argpartition(-(queries @ vectors.T), 10, axis=1)[:, :10]
        row: dict[str, object] = {}
        for name in ("edge", "local"):
            if name == "local" and n > args.local_max:
                continue
            root = Path(tempfile.mkdtemp())
            store: VectorStore
            if name == "edge":
                store = EdgeVectorStore(root)
            else:  # imported here so an edge-only run needs no qdrant-client
                from ragserve.store.qdrant import QdrantClientStore

                store = QdrantClientStore(path=root)
            seconds = load(store, vectors)
            stats = measure(store, queries, truth)
            store.close()
            shutil.rmtree(root, ignore_errors=True)
            row[name] = {**stats, "load_s": seconds}
            print(
                f"{n:>9} {name:<6} {stats['p50']:>8.2f} {stats['p99']:>8.2f} "
                f"{stats['recall_at_10']:>9.3f} {seconds:>8.1f}"
            )
        if "local" in row:
            edge, local = row["edge"], row["local"]
            assert isinstance(edge, dict) and isinstance(local, dict)
            print(f"{n:>9} ratio  p99 local/edge = {local['p99'] / edge['p99']:.1f}x")
        results[str(n)] = row
    print("saved", save("vector_search", {"results": results}))


if __name__ == "__main__":
    main()
