from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from ragserve.access.principal import Role
from ragserve.api.deps import AccessDep, Chat
from ragserve.api.errors import raises
from ragserve.api.routes import event_stream
from ragserve.errors import (
    EmbeddingMismatch,
    Forbidden,
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
            Forbidden,
        ),
    },
)
async def chat(body: ChatRequest, serving: Chat, access: AccessDep) -> StreamingResponse:
    """A cited answer as Server-Sent Events: `meta`, `token`…, `citations`, `done`.

    A failure after the stream started arrives as a final `error` event. The collection
    must be one the caller may read, and a conversation the caller's own.
    """
    await asyncio.to_thread(_authorize, body, access)
    prepared = await serving.prepare(body)
    if prepared.conversation is not None and prepared.conversation.user_id is None:
        prepared.conversation.user_id = access.principal.user_id
    return sse_response(serving.stream(prepared))


def _authorize(body: ChatRequest, access: AccessDep) -> None:
    """The conversation is the caller's and its collection readable, before anything runs."""
    conversation = access.conversation(body.conversation_id) if body.conversation_id else None
    default = conversation.collection if conversation else access.settings.collection
    access.collection(body.collection or default, Role.viewer)
