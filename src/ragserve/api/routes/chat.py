from __future__ import annotations

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from ragserve.api.deps import Chat
from ragserve.api.errors import raises
from ragserve.api.routes import event_stream
from ragserve.errors import (
    EmbeddingMismatch,
    NotFound,
    RequestTooLarge,
    SparseEncodingMismatch,
    SparseIndexMissing,
)
from ragserve.protocol import ChatRequest
from ragserve.sse import sse_response

router = APIRouter(prefix="/api", tags=["chat"])


@router.post(
    "/chat",
    response_class=StreamingResponse,
    responses={
        200: event_stream(
            "`meta`, `token`…, then `citations` and `done`, or a final `error`",
            ["meta", "token", "citations", "done", "error"],
        ),
        # Only what is checked before the stream starts; later failures are `error` events.
        **raises(
            RequestValidationError,
            RequestTooLarge,
            NotFound,
            EmbeddingMismatch,
            SparseIndexMissing,
            SparseEncodingMismatch,
        ),
    },
)
async def chat(body: ChatRequest, serving: Chat) -> StreamingResponse:
    """A cited answer as Server-Sent Events: `meta`, `token`…, `citations`, `done`.

    A failure after the stream started arrives as a final `error` event.
    """
    prepared = await serving.prepare(body)
    return sse_response(serving.stream(prepared))
