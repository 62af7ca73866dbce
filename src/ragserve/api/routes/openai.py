from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ragserve.api.deps import State
from ragserve.api.sse import SSE_HEADERS, sse_response
from ragserve.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelList,
)

router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models", response_model=ModelList)
async def list_models(state: State) -> ModelList:
    """`rag:<collection>` per collection, the embedding model, and backend models if exposed."""
    return await state.openai.models()


@router.post("/chat/completions", response_model=ChatCompletionResponse)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, state: State
) -> ChatCompletionResponse | StreamingResponse:
    """OpenAI chat completions; `model: rag:<collection>` answers from that collection."""
    if state.openai.passes_through(body):
        raw = await request.json()
        media = "text/event-stream" if body.stream else "application/json"
        return StreamingResponse(
            state.openai.passthrough(raw), media_type=media, headers=SSE_HEADERS
        )
    if body.stream:
        collection, question, history = await state.openai.prepare(body)
        return sse_response(state.openai.stream(body, collection, question, history))
    return await state.openai.complete(body)


@router.post("/embeddings", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, state: State) -> EmbeddingResponse:
    """OpenAI embeddings from the in-process model, batched across concurrent requests."""
    return await state.embeddings.create(body)
