"""Embedded Qdrant Edge shards on disk: Qdrant's engine in-process, with HNSW.

Chosen over qdrant-client's local mode, which searches by brute force (see
benchmarks/vector_search.py and RESULTS.md for the measurement).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ragserve.embed.sparse import SparseVector
from ragserve.store.payload import ChunkPayload
from ragserve.store.vectors import (
    RRF_K,
    SPARSE_VECTOR,
    ChunkPoint,
    SearchHit,
    prefetch_limit,
)


def _doc_filter(doc_id: str, from_index: int = 0) -> qe.Filter:
    conditions: list[Any] = [qe.FieldCondition(key="document_id", match=qe.MatchValue(doc_id))]
    if from_index:
        conditions.append(qe.FieldCondition(key="chunk_index", range=qe.RangeFloat(gte=from_index)))
    return qe.Filter(must=conditions)


def _vector(point: ChunkPoint) -> Any:
    if point.sparse is None:
        return list(point.vector)
    sparse = qe.SparseVector(point.sparse.indices, point.sparse.values)
    return {"": list(point.vector), SPARSE_VECTOR: sparse}


def _dense(vector: Any) -> list[float] | None:
    if isinstance(vector, dict):  # named vectors: the default one has the empty name
        vector = vector.get("") or next(iter(vector.values()), None)
    return list(vector) if vector is not None else None


class EdgeVectorStore:
    """One Edge shard per collection under ``root``; safe to share between threads."""

    def __init__(self, root: Path, hnsw_ef: int = 256, hnsw_m: int = 16) -> None:
        self.root = root
        self.hnsw_ef = hnsw_ef
        self.hnsw_m = hnsw_m
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()

    def _path(self, name: str) -> Path:
        return self.root / name

    def _shard(self, name: str) -> qe.EdgeShard:
        with self._lock:
            shard = self._shards.get(name)
            if shard is None:
                if not self.exists(name):
                    raise KeyError(name)
                shard = qe.EdgeShard.load(str(self._path(name)))
                self._shards[name] = shard
            return shard

    def exists(self, name: str) -> bool:
        path = self._path(name)
        return path.is_dir() and any(path.iterdir())

    def names(self) -> list[str]:
        """Every vector collection on disk."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if self.exists(p.name))

    def create(self, name: str, dimension: int, sparse: bool = False) -> None:
        with self._lock:
            if self.exists(name):
                return
            sparse_vectors = None
            if sparse:
                sparse_vectors = {
                    SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)
                }
            config = qe.EdgeConfig(
                vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine),
                sparse_vectors=sparse_vectors,
                hnsw_config=qe.HnswIndexConfig(
                    m=self.hnsw_m, ef_construct=8 * self.hnsw_m, full_scan_threshold=10_000
                ),
            )
            shard = qe.EdgeShard.create(str(self._path(name)), config)
            shard.update(
                qe.UpdateOperation.create_field_index("document_id", qe.PayloadSchemaType.Keyword)
            )
            self._shards[name] = shard

    def drop(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self._path(name), ignore_errors=True)

    def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None:
        if not points:
            return
        shard = self._shard(name)
        batch = [qe.Point(p.id, _vector(p), p.payload.to_json()) for p in points]
        with self._lock:
            shard.update(qe.UpdateOperation.upsert_points(batch))

    def delete_document(self, name: str, doc_id: str, from_index: int = 0) -> None:
        shard = self._shard(name)
        with self._lock:
            shard.update(
                qe.UpdateOperation.delete_points_by_filter(_doc_filter(doc_id, from_index))
            )

    def search(
        self,
        name: str,
        vector: Sequence[float] | None,
        limit: int,
        exclude_documents: Sequence[str] = (),
        sparse: SparseVector | None = None,
    ) -> list[SearchHit]:
        shard = self._shard(name)
        flt = None
        if exclude_documents:
            flt = qe.Filter(
                must_not=[
                    qe.FieldCondition(key="document_id", match=qe.MatchAny(list(exclude_documents)))
                ]
            )
        dense_query = None if vector is None else qe.Query.Nearest(list(vector))
        sparse_query = None
        if sparse is not None:
            terms = qe.SparseVector(sparse.indices, sparse.values)
            sparse_query = qe.Query.Nearest(terms, using=SPARSE_VECTOR)
        params = qe.SearchParams(hnsw_ef=max(self.hnsw_ef, limit))
        if dense_query is not None and sparse_query is not None:
            wide = prefetch_limit(limit)
            wide_params = qe.SearchParams(hnsw_ef=max(self.hnsw_ef, wide))
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(wide, dense_query, params=wide_params, filter=flt),
                    qe.Prefetch(wide, sparse_query, filter=flt),
                ],
                # The stub types Fusion.Rrf apart from Fusion; the binding takes it.
                query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]
                with_payload=True,
                with_vector=[""],
            )
        else:
            if dense_query is None and sparse_query is None:
                raise ValueError("a search needs a dense or a sparse query vector")
            request = qe.QueryRequest(
                limit=limit,
                query=dense_query or sparse_query,
                filter=flt,
                with_payload=True,
                with_vector=[""],
                params=params,
            )
        with self._lock:
            points = shard.query(request)
        return [
            SearchHit(
                str(p.id),
                float(p.score),
                ChunkPayload.from_json(dict(p.payload or {})),
                _dense(p.vector),
            )
            for p in points
        ]

    def count(self, name: str, doc_id: str | None = None) -> int:
        shard = self._shard(name)
        flt = _doc_filter(doc_id) if doc_id else None
        with self._lock:
            return int(shard.count(qe.CountRequest(exact=True, filter=flt)))

    def optimize(self, name: str) -> None:
        shard = self._shard(name)
        with self._lock:
            shard.optimize()
            shard.flush()

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
