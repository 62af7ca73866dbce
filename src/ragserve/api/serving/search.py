"""Retrieval only: the passages a question would be answered from."""

from __future__ import annotations

from ragserve.config import Settings
from ragserve.ingest.service import IngestService
from ragserve.protocol import SearchRequest, SearchResponse
from ragserve.rag.retrieve import Retriever


class SearchServing:
    def __init__(self, settings: Settings, retriever: Retriever, ingest: IngestService) -> None:
        self.settings = settings
        self.retriever = retriever
        self.ingest = ingest

    async def search(self, body: SearchRequest) -> SearchResponse:
        collection = body.collection or self.settings.collection
        plan = self.retriever.plan(await self.retriever.aopen(collection), body.mode)
        pending = self.ingest.not_ready(collection)
        results = await self.retriever.aretrieve(
            collection, body.query, body.top_k, exclude=[d for d, _ in pending], mode=plan.mode
        )
        return SearchResponse(
            collection=collection,
            query=body.query,
            results=results,
            indexing=sorted(source for _, source in pending),
            mode=plan.mode,
            notice=plan.notice,
        )
