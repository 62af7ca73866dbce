"""Qdrant through qdrant-client: a Qdrant server, or the client's brute-force local mode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qdrant_client import QdrantClient, models

from ragserve.store.payload import ChunkPayload
from ragserve.store.vectors import ChunkPoint, SearchHit


def _doc_filter(doc_id: str, from_index: int = 0) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="document_id", match=models.MatchValue(value=doc_id))
    ]
    if from_index:
        must.append(models.FieldCondition(key="chunk_index", range=models.Range(gte=from_index)))
    return models.Filter(must=must)


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

    def create(self, name: str, dimension: int) -> None:
        if self.exists(name):
            return
        self._client.create_collection(
            name,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
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
                    models.PointStruct(id=p.id, vector=list(p.vector), payload=p.payload.to_json())
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
        vector: Sequence[float],
        limit: int,
        exclude_documents: Sequence[str] = (),
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
        result = self._client.query_points(
            name,
            query=list(vector),
            query_filter=flt,
            limit=limit,
            with_payload=True,
            with_vectors=True,
        )
        return [
            SearchHit(
                str(p.id),
                float(p.score),
                ChunkPayload.from_json(dict(p.payload or {})),
                list(p.vector) if isinstance(p.vector, list) else None,  # type: ignore[arg-type]
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
