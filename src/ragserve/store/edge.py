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

from ragserve.store.payload import ChunkPayload
from ragserve.store.vectors import ChunkPoint, SearchHit


def _doc_filter(doc_id: str, from_index: int = 0) -> qe.Filter:
    conditions: list[Any] = [qe.FieldCondition(key="document_id", match=qe.MatchValue(doc_id))]
    if from_index:
        conditions.append(qe.FieldCondition(key="chunk_index", range=qe.RangeFloat(gte=from_index)))
    return qe.Filter(must=conditions)


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

    def create(self, name: str, dimension: int) -> None:
        with self._lock:
            if self.exists(name):
                return
            config = qe.EdgeConfig(
                vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine),
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
        batch = [qe.Point(p.id, list(p.vector), p.payload.to_json()) for p in points]
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
        vector: Sequence[float],
        limit: int,
        exclude_documents: Sequence[str] = (),
    ) -> list[SearchHit]:
        shard = self._shard(name)
        flt = None
        if exclude_documents:
            flt = qe.Filter(
                must_not=[
                    qe.FieldCondition(key="document_id", match=qe.MatchAny(list(exclude_documents)))
                ]
            )
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(list(vector)),
            filter=flt,
            with_payload=True,
            with_vector=True,
            params=qe.SearchParams(hnsw_ef=max(self.hnsw_ef, limit)),
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
