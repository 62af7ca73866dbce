"""Collections: create (pinned to the server's embedding model), list, show, delete."""

from __future__ import annotations

from typing import cast

from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import AlreadyExists, CollectionNotFound, InvalidRequest, SparseIndexMissing
from ragserve.ingest.service import IngestService
from ragserve.protocol import CollectionCreate, CollectionInfo, CollectionUpdate, SearchMode
from ragserve.store.catalog import Catalog
from ragserve.store.tables import CollectionRow


def collection_info(row: CollectionRow, ready: int) -> CollectionInfo:
    return CollectionInfo(
        name=row.name,
        embedding_model=row.embed_model,
        dimension=row.dimension,
        documents_ready=ready,
        created_at=row.created_at,
        retrieval_mode=cast("SearchMode | None", row.retrieval_mode),
        sparse_encoding=row.sparse_encoding,
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
        if body.retrieval_mode in ("sparse", "hybrid") and not self.catalog.sparse_for_new:
            raise SparseIndexMissing(body.name, body.retrieval_mode)
        if self.catalog.collections.get(body.name) is not None:
            raise AlreadyExists(f"collection {body.name!r} already exists")
        row = self.catalog.open(
            body.name,
            model,
            self.embedder.dimension,
            create=True,
            retrieval_mode=body.retrieval_mode,
        )
        return collection_info(row, 0)

    def update(self, name: str, body: CollectionUpdate) -> CollectionInfo:
        """Set or clear the collection's own retrieval mode."""
        self.catalog.set_retrieval_mode(name, body.retrieval_mode)
        return self.get(name)

    def all(self) -> list[CollectionInfo]:
        return [collection_info(row, n) for row, n in self.catalog.list_collections()]

    def get(self, name: str) -> CollectionInfo:
        for row, n in self.catalog.list_collections():
            if row.name == name:
                return collection_info(row, n)
        raise CollectionNotFound(name)

    def delete(self, name: str) -> None:
        """The collection, its vectors, its documents and their queued work."""
        self.ingest.delete_collection(name)
