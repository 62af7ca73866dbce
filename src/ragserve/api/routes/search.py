from __future__ import annotations

import asyncio

from fastapi import APIRouter

from ragserve.api.deps import State
from ragserve.protocol import SearchRequest, SearchResponse

router = APIRouter(prefix="/api", tags=["search"])


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, state: State) -> SearchResponse:
    """Retrieval only: the passages a question would be answered from, with scores."""
    collection = body.collection or state.settings.collection
    metadata = state.ingest.catalog.metadata
    await asyncio.to_thread(state.retriever.open, collection)
    pending = await asyncio.to_thread(metadata.not_ready, collection)
    results = await state.retriever.aretrieve(
        collection, body.query, body.top_k, exclude=[d.id for d in pending]
    )
    return SearchResponse(
        collection=collection,
        query=body.query,
        results=results,
        indexing=sorted(d.source for d in pending),
    )
