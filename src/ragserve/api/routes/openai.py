from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from ragserve.access.principal import Role
from ragserve.api.deps import AccessDep, Embeddings, OpenAI
from ragserve.api.errors import raises
from ragserve.api.routes import event_stream
from ragserve.api.serving.openai import RAG_PREFIX
from ragserve.errors import (
    BackendError,
    EmbeddingError,
    EmbeddingMismatch,
    Forbidden,
    InvalidRequest,
    NotFound,
    RequestTooLarge,
    SparseEncodingMismatch,
    SparseIndexMissing,
)
from ragserve.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelList,
)
from ragserve.sse import SSE_HEADERS, sse_response

router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models", response_model=ModelList)
async def list_models(serving: OpenAI, access: AccessDep) -> ModelList:
    """`rag:<collection>` per collection the caller may read, the embedding model, and
    backend models if exposed."""
    models = await serving.models()
    if not access.principal.is_user:
        return models
    roles = await asyncio.to_thread(access.roles)
    prefix = len(RAG_PREFIX)
    return ModelList(
        data=[m for m in models.data if not m.id.startswith(RAG_PREFIX) or m.id[prefix:] in roles]
    )


@router.post(
    "/chat/completions",
    response_model=ChatCompletionResponse,
    responses={
        200: event_stream("A completion, or with `stream: true` its chunks then `[DONE]`"),
        **raises(
            RequestValidationError,
            RequestTooLarge,
            InvalidRequest,
            NotFound,
            EmbeddingMismatch,
            SparseIndexMissing,
            SparseEncodingMismatch,
            EmbeddingError,
            BackendError,  # without `stream`: the chat backend failed or timed out
            Forbidden,
        ),
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, serving: OpenAI, access: AccessDep
) -> ChatCompletionResponse | StreamingResponse:
    """OpenAI chat completions; `model: rag:<collection>` answers from that collection (one
    the caller may read)."""
    if body.model.startswith(RAG_PREFIX):
        collection = body.model[len(RAG_PREFIX) :]
        await asyncio.to_thread(access.collection, collection, Role.viewer)
    else:
        access.scope("read")
    if serving.passes_through(body):
        raw = await request.json()
        media = "text/event-stream" if body.stream else "application/json"
        return StreamingResponse(serving.passthrough(raw), media_type=media, headers=SSE_HEADERS)
    if body.stream:
        collection, question, history = await serving.prepare(body)
        return sse_response(serving.stream(body, collection, question, history))
    return await serving.complete(body)


@router.post(
    "/embeddings",
    response_model=EmbeddingResponse,
    responses=raises(
        RequestValidationError,
        RequestTooLarge,
        InvalidRequest,
        NotFound,
        EmbeddingError,
        BackendError,  # a remote embedding server failing
        Forbidden,
    ),
)
async def embeddings(
    body: EmbeddingRequest, serving: Embeddings, access: AccessDep
) -> EmbeddingResponse:
    """OpenAI embeddings from the in-process model, batched across concurrent requests
    (any key with the `read` scope)."""
    access.scope("read")
    return await serving.create(body)
