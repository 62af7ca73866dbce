"""Qdrant through qdrant-client: a Qdrant server, or the client's brute-force local mode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qdrant_client import QdrantClient, models

from ragserve.embed.sparse import SparseVector
from ragserve.store.payload import ChunkPayload
from ragserve.store.vectors import (
    RRF_K,
    SPARSE_VECTOR,
    ChunkPoint,
    SearchHit,
    prefetch_limit,
)


def _doc_filter(doc_id: str, from_index: int = 0) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="document_id", match=models.MatchValue(value=doc_id))
    ]
    if from_index:
        must.append(models.FieldCondition(key="chunk_index", range=models.Range(gte=from_index)))
    return models.Filter(must=must)


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vector.indices, values=vector.values)


def _vector(point: ChunkPoint) -> models.VectorStruct:
    if point.sparse is None:
        return list(point.vector)
    return {"": list(point.vector), SPARSE_VECTOR: _sparse(point.sparse)}


def _dense(vector: object) -> list[float] | None:
    if isinstance(vector, dict):  # named vectors: the dense one has the empty name
        vector = vector.get("")
    return [float(x) for x in vector] if isinstance(vector, list) else None


class QdrantClientStore:
    """Vector store over ``qdrant_client.QdrantClient`` (server URL or local path)."""

    def __init__(
        self, *, url: str | None = None, api_key: str | None = None, path: Path | None = None
    ) -> None:
        if url:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=30)
        else:
            assert path is not None
            self._client = QdrantClient(path=str(path))
        self._remote = bool(url)

    def exists(self, name: str) -> bool:
        return bool(self._client.collection_exists(name))

    def create(self, name: str, dimension: int, sparse: bool = False) -> None:
        if self.exists(name):
            return
        sparse_config = None
        if sparse:
            sparse_config = {SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)}
        self._client.create_collection(
            name,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            sparse_vectors_config=sparse_config,
        )
        if self._remote:
            self._client.create_payload_index(
                name, "document_id", field_schema=models.PayloadSchemaType.KEYWORD
            )

    def drop(self, name: str) -> None:
        if self.exists(name):
            self._client.delete_collection(name)

    def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None:
        if points:
            self._client.upsert(
                name,
                points=[
                    models.PointStruct(id=p.id, vector=_vector(p), payload=p.payload.to_json())
                    for p in points
                ],
                wait=True,
            )

    def delete_document(self, name: str, doc_id: str, from_index: int = 0) -> None:
        self._client.delete(
            name, points_selector=models.FilterSelector(filter=_doc_filter(doc_id, from_index))
        )

    def search(
        self,
        name: str,
        vector: Sequence[float] | None,
        limit: int,
        exclude_documents: Sequence[str] = (),
        sparse: SparseVector | None = None,
    ) -> list[SearchHit]:
        flt = None
        if exclude_documents:
            flt = models.Filter(
                must_not=[
                    models.FieldCondition(
                        key="document_id", match=models.MatchAny(any=list(exclude_documents))
                    )
                ]
            )
        if vector is not None and sparse is not None:
            wide = prefetch_limit(limit)
            result = self._client.query_points(
                name,
                prefetch=[
                    models.Prefetch(query=list(vector), limit=wide, filter=flt),
                    models.Prefetch(
                        query=_sparse(sparse), using=SPARSE_VECTOR, limit=wide, filter=flt
                    ),
                ],
                query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                limit=limit,
                with_payload=True,
                with_vectors=[""],
            )
        else:
            query: list[float] | models.SparseVector
            if vector is not None:
                query, using = list(vector), None
            elif sparse is not None:
                query, using = _sparse(sparse), SPARSE_VECTOR
            else:
                raise ValueError("a search needs a dense or a sparse query vector")
            result = self._client.query_points(
                name,
                query=query,
                using=using,
                query_filter=flt,
                limit=limit,
                with_payload=True,
                with_vectors=[""],
            )
        return [
            SearchHit(
                str(p.id),
                float(p.score),
                ChunkPayload.from_json(dict(p.payload or {})),
                _dense(p.vector),
            )
            for p in result.points
        ]

    def count(self, name: str, doc_id: str | None = None) -> int:
        flt = _doc_filter(doc_id) if doc_id else None
        return int(self._client.count(name, count_filter=flt, exact=True).count)

    def optimize(self, name: str) -> None:
        pass  # the server indexes in the background; local mode has no index

    def close(self) -> None:
        self._client.close()
