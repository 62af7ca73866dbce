from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from ragserve.access.principal import Role
from ragserve.api.deps import AccessDep, Search
from ragserve.api.errors import raises
from ragserve.errors import (
    BackendError,
    CollectionNotFound,
    EmbeddingError,
    EmbeddingMismatch,
    Forbidden,
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
        Forbidden,
    ),
)
async def search(body: SearchRequest, serving: Search, access: AccessDep) -> SearchResponse:
    """Retrieval only: the passages a question would be answered from, with scores.
    ``mode`` picks dense, sparse (BM25) or hybrid retrieval; the response says which ran."""
    collection = body.collection or access.settings.collection
    await asyncio.to_thread(access.collection, collection, Role.viewer)
    return await serving.search(body)
