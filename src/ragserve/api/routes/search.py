from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import State
from ragserve.protocol import SearchRequest, SearchResponse

router = APIRouter(prefix="/api", tags=["search"])


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, state: State) -> SearchResponse:
    """Retrieval only: the passages a question would be answered from, with scores."""
    collection = body.collection or state.settings.collection
    await state.retriever.aopen(collection)
    pending = state.ingest.not_ready(collection)
    results = await state.retriever.aretrieve(
        collection, body.query, body.top_k, exclude=[d for d, _ in pending]
    )
    return SearchResponse(
        collection=collection,
        query=body.query,
        results=results,
        indexing=sorted(source for _, source in pending),
    )
