"""Retrieval: embed the query, search the collection's vectors."""

from __future__ import annotations

from ragserve.embed.base import EmbeddingBackend
from ragserve.protocol import Citation
from ragserve.store.catalog import Catalog


class Retriever:
    def __init__(self, catalog: Catalog, embedder: EmbeddingBackend) -> None:
        self.catalog = catalog
        self.embedder = embedder

    def retrieve(self, collection: str, query: str, top_k: int) -> list[Citation]:
        """The ``top_k`` closest passages, numbered from 1 in rank order."""
        row = self.catalog.open(
            collection, self.embedder.model_id, self.embedder.dimension, create=False
        )
        vector = self.embedder.embed_queries([query])[0]
        hits = self.catalog.vectors.search(row.vector_collection, vector.tolist(), top_k)
        return [
            Citation(
                n=rank,
                source=str(hit.payload.get("source", "")),
                page=hit.payload.get("page"),
                heading=" > ".join(hit.payload.get("heading") or []) or None,
                text=str(hit.payload.get("text", "")),
                title=hit.payload.get("title"),
                document_id=str(hit.payload.get("document_id", "")),
                chunk_index=int(hit.payload.get("chunk_index", 0)),
                score=hit.score,
            )
            for rank, hit in enumerate(hits, 1)
        ]
