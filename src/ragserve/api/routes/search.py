from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import Search
from ragserve.protocol import SearchRequest, SearchResponse

router = APIRouter(prefix="/api", tags=["search"])


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, serving: Search) -> SearchResponse:
    """Retrieval only: the passages a question would be answered from, with scores."""
    return await serving.search(body)
