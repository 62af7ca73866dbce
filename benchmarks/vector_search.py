"""Vector search latency and recall: Qdrant Edge (chosen) vs qdrant-client local mode.

Synthetic unit vectors in 384 dimensions (MiniLM's), recall@10 against exact search:
- ``latent`` (default): a 48-dimensional latent projected to 384 dimensions plus noise;
  sentence embeddings have a low intrinsic dimension like this;
- ``clustered``: 2,000 tight clusters; at 1M points each holds 500 near-equidistant
  points, a worst case for any approximate index.

    python -m benchmarks.vector_search --sizes 10000,100000 [--data latent] [--ef 256,512]
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
from ragserve.store.payload import ChunkPayload
from ragserve.store.vectors import ChunkPoint, VectorStore

DIM = 384


_PROJECTION = np.random.default_rng(7).normal(size=(48, DIM)).astype(np.float32)
_CENTRES = np.random.default_rng(8).normal(size=(2000, DIM)).astype(np.float32)


def corpus(n: int, rng: np.random.Generator, data: str = "latent") -> np.ndarray:
    """``n`` unit vectors; queries must come from the same call pattern to share centres."""
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks to bound memory
        m = min(100_000, n - start)
        if data == "latent":
            block = rng.normal(size=(m, 48)).astype(np.float32) @ _PROJECTION
            block += 0.5 * rng.normal(size=(m, DIM)).astype(np.float32)
        else:
            block = _CENTRES[rng.integers(0, 2000, m)]
            block = block + 0.6 * rng.normal(size=(m, DIM)).astype(np.float32)
        vectors[start : start + m] = block
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def load(store: VectorStore, vectors: np.ndarray) -> float:
    started = time.perf_counter()
    store.create("bench", DIM)
    for start in range(0, len(vectors), 2000):
        block = vectors[start : start + 2000]
        store.upsert("bench", [
            ChunkPoint(_point_id(start + i), v.tolist(), ChunkPayload("d", start + i))
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
        found = {h.payload.chunk_index for h in hits}
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
    parser.add_argument("--data", choices=["latent", "clustered"], default="latent")
    parser.add_argument("--ef", default="256", help="HNSW ef values to sweep (edge)")
    parser.add_argument("--m", type=int, default=16, help="HNSW graph degree (edge)")
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    results: dict[str, object] = {}
    print(f"machine: {machine()}")
    print(f"data: {args.data}, HNSW m={args.m}")
    header = ("points", "store@ef", "p50 ms", "p99 ms", "recall@10", "load s")
    print("{:>9} {:<9} {:>8} {:>8} {:>9} {:>8}".format(*header))
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = corpus(n, rng, args.data)
        queries = corpus(args.queries, rng, args.data)
        # Exact top-10 sets (order within the set does not matter for recall).
        truth = np.argpartition(-(queries @ vectors.T), 10, axis=1)[:, :10]
        row: dict[str, object] = {}
        for name in ("edge", "local"):
            if name == "local" and n > args.local_max:
                continue
            root = Path(tempfile.mkdtemp())
            store: VectorStore
            if name == "edge":
                store = EdgeVectorStore(root, hnsw_m=args.m)
            else:  # imported here so an edge-only run needs no qdrant-client
                from ragserve.store.qdrant import QdrantClientStore

                store = QdrantClientStore(path=root)
            seconds = load(store, vectors)
            for ef in [int(e) for e in args.ef.split(",")] if name == "edge" else [0]:
                label = f"{name}@{ef}" if ef else name
                if isinstance(store, EdgeVectorStore):
                    store.hnsw_ef = ef
                stats = measure(store, queries, truth)
                row[label] = {**stats, "load_s": seconds}
                print(
                    f"{n:>9} {label:<9} {stats['p50']:>8.2f} {stats['p99']:>8.2f} "
                    f"{stats['recall_at_10']:>9.3f} {seconds:>8.1f}",
                    flush=True,
                )
            store.close()
            shutil.rmtree(root, ignore_errors=True)
        if "local" in row:
            edge, local = next(v for k, v in row.items() if k.startswith("edge")), row["local"]
            assert isinstance(edge, dict) and isinstance(local, dict)
            print(f"{n:>9} ratio  p99 local/edge = {local['p99'] / edge['p99']:.1f}x")
        results[str(n)] = row
    print("saved", save(f"vector_search_{args.data}", {"results": results}))


if __name__ == "__main__":
    main()
