"""Collections: create (pinned to the server's embedding model), list, show, delete."""

from __future__ import annotations

from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import AlreadyExists, CollectionNotFound, InvalidRequest
from ragserve.ingest.service import IngestService
from ragserve.protocol import CollectionCreate, CollectionInfo
from ragserve.store.catalog import Catalog
from ragserve.store.tables import CollectionRow


def collection_info(
    row: CollectionRow, ready: int, totals: tuple[dict[str, int], int, int] | None = None
) -> CollectionInfo:
    by_status, chunks, stored = totals or ({}, 0, 0)
    return CollectionInfo(
        name=row.name,
        embedding_model=row.embed_model,
        dimension=row.dimension,
        documents_ready=ready,
        created_at=row.created_at,
        documents=by_status,
        chunks=chunks,
        stored_bytes=stored,
    )


class CollectionServing:
    def __init__(self, catalog: Catalog, ingest: IngestService, embedder: EmbeddingBackend) -> None:
        self.catalog = catalog
        self.ingest = ingest
        self.embedder = embedder

    def create(self, body: CollectionCreate) -> CollectionInfo:
        model = self.embedder.model_id
        if body.embedding_model not in (None, model):
            raise InvalidRequest(
                f"this server embeds with {model!r}; a collection for {body.embedding_model!r} "
                "needs a server started with RAGSERVE_EMBED_MODEL set to it",
                "embedding_model",
            )
        if self.catalog.collections.get(body.name) is not None:
            raise AlreadyExists(f"collection {body.name!r} already exists")
        row = self.catalog.open(body.name, model, self.embedder.dimension, create=True)
        return collection_info(row, 0)

    def all(self) -> list[CollectionInfo]:
        """Every collection with its counts and sizes: two grouped queries in all."""
        totals = self.catalog.documents.totals()
        return [
            collection_info(row, n, totals.get(row.name))
            for row, n in self.catalog.list_collections()
        ]

    def get(self, name: str) -> CollectionInfo:
        for info in self.all():
            if info.name == name:
                return info
        raise CollectionNotFound(name)

    def delete(self, name: str) -> None:
        """The collection, its vectors, its documents and their queued work."""
        self.ingest.delete_collection(name)
