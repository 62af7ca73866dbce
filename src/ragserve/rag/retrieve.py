"""Retrieval: embed the query, search the collection's ready documents."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.embed.request_merging import INTERACTIVE
from ragserve.observability import tracing
from ragserve.observability.metrics import RETRIEVAL_LATENCY
from ragserve.protocol import Citation
from ragserve.store.catalog import Catalog
from ragserve.store.tables import CollectionRow
from ragserve.store.vectors import SearchHit


async def embed_texts(
    embedder: EmbeddingBackend, texts: Sequence[str], priority: int = INTERACTIVE
) -> Vectors:
    """Query embeddings, through the batcher's async path when the embedder has one."""
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    aembed = getattr(embedder, "aembed", None)
    if aembed is not None:
        vectors: Vectors = await aembed("query", list(texts), priority)
        return vectors
    return await asyncio.to_thread(embedder.embed_queries, list(texts))


class Retriever:
    def __init__(self, catalog: Catalog, embedder: EmbeddingBackend) -> None:
        self.catalog = catalog
        self.embedder = embedder

    def open(self, collection: str) -> CollectionRow:
        return self.catalog.open(
            collection, self.embedder.model_id, self.embedder.dimension, create=False
        )

    async def aopen(self, collection: str) -> CollectionRow:
        """``open`` without a thread hop when the collection is already open."""
        row = self.catalog.cached(collection, self.embedder.model_id, self.embedder.dimension)
        return row if row is not None else await asyncio.to_thread(self.open, collection)

    def retrieve(
        self, collection: str, query: str, top_k: int, exclude: Sequence[str] = ()
    ) -> list[Citation]:
        """The ``top_k`` closest passages, numbered from 1 in rank order."""
        row = self.open(collection)
        vector = self.embedder.embed_queries([query])[0]
        hits = self.catalog.vectors.search(row.vector_collection, vector.tolist(), top_k, exclude)
        return to_citations(hits)

    @tracing.traced("retrieval", "retriever", output=lambda hits: ", ".join(c.source for c in hits))
    async def aretrieve(
        self, collection: str, query: str, top_k: int, exclude: Sequence[str] = ()
    ) -> list[Citation]:
        """``retrieve`` for the event loop: the embedding is batched with other requests."""
        row = await self.aopen(collection)
        with RETRIEVAL_LATENCY.labels("embed").time():
            vector = (await embed_texts(self.embedder, [query]))[0]
        with RETRIEVAL_LATENCY.labels("search").time():
            hits = await asyncio.to_thread(
                self.catalog.vectors.search, row.vector_collection, vector.tolist(), top_k, exclude
            )
        tracing.annotate(ragserve__top_k=top_k, ragserve__hits=len(hits))
        return to_citations(hits)


def to_citations(hits: Sequence[SearchHit]) -> list[Citation]:
    return [
        Citation(
            n=rank,
            source=hit.payload.source,
            page=hit.payload.page,
            heading=" > ".join(hit.payload.heading) or None,
            text=hit.payload.text,
            title=hit.payload.title,
            document_id=hit.payload.document_id,
            chunk_index=hit.payload.chunk_index,
            score=hit.score,
            vector=hit.vector,
        )
        for rank, hit in enumerate(hits, 1)
    ]
