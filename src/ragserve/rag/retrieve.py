"""Retrieval: search a collection's ready documents densely (the query's embedding), by
keywords (its BM25 terms) or both fused by reciprocal rank (hybrid).

The mode is the request's if it names one, else the collection's own, else the server's
default. A collection indexed without a sparse side answers an explicit ``sparse`` or
``hybrid`` with :class:`SparseIndexMissing`; a default mode falls back to ``dense`` for it,
with a notice saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.embed.request_merging import INTERACTIVE
from ragserve.embed.sparse import query_vector
from ragserve.errors import SparseIndexMissing
from ragserve.observability import tracing
from ragserve.observability.metrics import RETRIEVAL_LATENCY
from ragserve.protocol import Citation, SearchMode
from ragserve.store.catalog import Catalog, check_sparse_encoding
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


@dataclass(frozen=True, slots=True)
class RetrievalPlan:
    """The mode a search runs in, and why it is not the configured one if it is not."""

    mode: SearchMode
    notice: str | None = None


class Retriever:
    def __init__(
        self, catalog: Catalog, embedder: EmbeddingBackend, default_mode: SearchMode = "dense"
    ) -> None:
        self.catalog = catalog
        self.embedder = embedder
        self.default_mode = default_mode

    def open(self, collection: str) -> CollectionRow:
        return self.catalog.open(
            collection, self.embedder.model_id, self.embedder.dimension, create=False
        )

    async def aopen(self, collection: str) -> CollectionRow:
        """``open`` without a thread hop when the collection is already open."""
        row = self.catalog.cached(collection, self.embedder.model_id, self.embedder.dimension)
        return row if row is not None else await asyncio.to_thread(self.open, collection)

    def plan(self, row: CollectionRow, requested: SearchMode | None = None) -> RetrievalPlan:
        """The mode for a search of ``row``: ``requested``, else the collection's, else the
        server default. Raises SparseIndexMissing if a request names a mode that needs the
        sparse side the collection lacks."""
        mode = cast("SearchMode", requested or row.retrieval_mode or self.default_mode)
        if mode == "dense":
            return RetrievalPlan(mode)
        if row.sparse_encoding is None:
            if requested is not None:
                raise SparseIndexMissing(row.name, mode)
            return RetrievalPlan(
                "dense",
                f"collection {row.name!r} has no keyword index (it was indexed before hybrid "
                f"search existed): searched in mode 'dense' instead of {mode!r}; re-index it "
                "to use keyword search",
            )
        check_sparse_encoding(row)
        return RetrievalPlan(mode)

    def retrieve(
        self,
        collection: str,
        query: str,
        top_k: int,
        exclude: Sequence[str] = (),
        mode: SearchMode | None = None,
    ) -> list[Citation]:
        """The ``top_k`` best passages, numbered from 1 in rank order."""
        row = self.open(collection)
        plan = self.plan(row, mode)
        vector = None
        if plan.mode != "sparse":
            vector = self.embedder.embed_queries([query])[0].tolist()
        sparse = query_vector(query) if plan.mode != "dense" else None
        hits = self.catalog.vectors.search(row.vector_collection, vector, top_k, exclude, sparse)
        return with_similarity(to_citations(hits), vector if plan.mode == "hybrid" else None)

    @tracing.traced("retrieval", "retriever", output=lambda hits: ", ".join(c.source for c in hits))
    async def aretrieve(
        self,
        collection: str,
        query: str,
        top_k: int,
        exclude: Sequence[str] = (),
        mode: SearchMode | None = None,
    ) -> list[Citation]:
        """``retrieve`` for the event loop: the embedding is batched with other requests."""
        row = await self.aopen(collection)
        plan = self.plan(row, mode)
        vector = None
        if plan.mode != "sparse":
            with RETRIEVAL_LATENCY.labels("embed").time():
                vector = (await embed_texts(self.embedder, [query]))[0].tolist()
        # Tokenising a query is well under a millisecond (Kiwi's first load aside).
        sparse = query_vector(query) if plan.mode != "dense" else None
        with RETRIEVAL_LATENCY.labels("search").time():
            hits = await asyncio.to_thread(
                self.catalog.vectors.search, row.vector_collection, vector, top_k, exclude, sparse
            )
        tracing.annotate(ragserve__top_k=top_k, ragserve__hits=len(hits), ragserve__mode=plan.mode)
        return with_similarity(to_citations(hits), vector if plan.mode == "hybrid" else None)


def with_similarity(citations: list[Citation], query: Sequence[float] | None) -> list[Citation]:
    """Each passage's cosine to the query vector (hybrid results carry their dense vectors)."""
    if query is None:
        return citations
    q = np.asarray(query, dtype=np.float32)
    q /= float(np.linalg.norm(q)) or 1.0
    for c in citations:
        if c.vector is not None:
            v = np.asarray(c.vector, dtype=np.float32)
            c.similarity = float(q @ v) / (float(np.linalg.norm(v)) or 1.0)
    return citations


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
