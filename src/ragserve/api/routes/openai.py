from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from ragserve.api.deps import Embeddings, OpenAI
from ragserve.api.errors import raises
from ragserve.api.routes import event_stream
from ragserve.errors import (
    BackendError,
    EmbeddingError,
    EmbeddingMismatch,
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
async def list_models(serving: OpenAI) -> ModelList:
    """`rag:<collection>` per collection, the embedding model, and backend models if exposed."""
    return await serving.models()


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
        ),
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, serving: OpenAI
) -> ChatCompletionResponse | StreamingResponse:
    """OpenAI chat completions; `model: rag:<collection>` answers from that collection."""
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
    ),
)
async def embeddings(body: EmbeddingRequest, serving: Embeddings) -> EmbeddingResponse:
    """OpenAI embeddings from the in-process model, batched across concurrent requests."""
    return await serving.create(body)
