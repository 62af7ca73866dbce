from __future__ import annotations

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import Search
from ragserve.api.errors import raises
from ragserve.errors import (
    BackendError,
    CollectionNotFound,
    EmbeddingError,
    EmbeddingMismatch,
    RequestTooLarge,
    SparseEncodingMismatch,
    SparseIndexMissing,
)
from ragserve.protocol import SearchRequest, SearchResponse

router = APIRouter(prefix="/api", tags=["search"])


@router.post(
    "/search",
    response_model=SearchResponse,
    responses=raises(
        RequestValidationError,
        RequestTooLarge,
        CollectionNotFound,
        EmbeddingMismatch,
        SparseIndexMissing,
        SparseEncodingMismatch,
        EmbeddingError,
        BackendError,  # a remote embedding server or reranker failing
    ),
)
async def search(body: SearchRequest, serving: Search) -> SearchResponse:
    """Retrieval only: the passages a question would be answered from, with scores.
    ``mode`` picks dense, sparse (BM25) or hybrid retrieval; the response says which ran."""
    return await serving.search(body)
