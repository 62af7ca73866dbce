"""Retrieval only: the passages a question would be answered from."""

from __future__ import annotations

from ragserve.config import Settings
from ragserve.ingest.service import IngestService
from ragserve.protocol import SearchRequest, SearchResponse
from ragserve.rag.rerank import RerankStage
from ragserve.rag.rerank.base import choose_stage
from ragserve.rag.retrieve import Retriever


class SearchServing:
    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        ingest: IngestService,
        reranker: RerankStage | None = None,
    ) -> None:
        self.settings = settings
        self.reranker = reranker
        self.retriever = retriever
        self.ingest = ingest

    async def search(self, body: SearchRequest) -> SearchResponse:
        collection = body.collection or self.settings.collection
        plan = self.retriever.plan(await self.retriever.aopen(collection), body.mode)
        pending = self.ingest.not_ready(collection)
        stage = choose_stage(self.reranker, body.rerank)
        results = await self.retriever.aretrieve(
            collection,
            body.query,
            stage.fetch(body.top_k) if stage else body.top_k,
            exclude=[d for d, _ in pending],
            mode=plan.mode,
        )
        if stage is not None:
            results = await stage.rerank(body.query, results, body.top_k)
        return SearchResponse(
            collection=collection,
            query=body.query,
            results=results,
            indexing=sorted(source for _, source in pending),
            mode=plan.mode,
            notice=plan.notice,
            reranker=stage.kind if stage else None,
        )
