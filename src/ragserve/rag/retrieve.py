"""Retrieval: embed the query, search the collection's ready documents."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.protocol import Citation
from ragserve.store.catalog import Catalog
from ragserve.store.metadata import CollectionRow
from ragserve.store.vectors import SearchHit


async def embed_query(embedder: EmbeddingBackend, query: str) -> Vectors:
    """The query's vector, through the batcher's async path when the embedder has one."""
    aembed = getattr(embedder, "aembed", None)
    if aembed is not None:
        vectors: Vectors = await aembed("query", [query])
        return vectors
    return await asyncio.to_thread(embedder.embed_queries, [query])


class Retriever:
    def __init__(self, catalog: Catalog, embedder: EmbeddingBackend) -> None:
        self.catalog = catalog
        self.embedder = embedder

    def open(self, collection: str) -> CollectionRow:
        return self.catalog.open(
            collection, self.embedder.model_id, self.embedder.dimension, create=False
        )

    def retrieve(
        self, collection: str, query: str, top_k: int, exclude: Sequence[str] = ()
    ) -> list[Citation]:
        """The ``top_k`` closest passages, numbered from 1 in rank order."""
        row = self.open(collection)
        vector = self.embedder.embed_queries([query])[0]
        hits = self.catalog.vectors.search(row.vector_collection, vector.tolist(), top_k, exclude)
        return to_citations(hits)

    async def aretrieve(
        self, collection: str, query: str, top_k: int, exclude: Sequence[str] = ()
    ) -> list[Citation]:
        """``retrieve`` for the event loop: the embedding is batched with other requests."""
        row = await asyncio.to_thread(self.open, collection)
        vector = (await embed_query(self.embedder, query))[0]
        hits = await asyncio.to_thread(
            self.catalog.vectors.search, row.vector_collection, vector.tolist(), top_k, exclude
        )
        return to_citations(hits)


def to_citations(hits: Sequence[SearchHit]) -> list[Citation]:
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
