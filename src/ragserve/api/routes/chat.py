from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ragserve.api.deps import State
from ragserve.api.sse import sse_response
from ragserve.protocol import ChatRequest

router = APIRouter(prefix="/api", tags=["chat"])


@router.post("/chat", response_class=StreamingResponse)
async def chat(body: ChatRequest, state: State) -> StreamingResponse:
    """A cited answer as Server-Sent Events: `meta`, `token`…, `citations`, `done`.

    A failure after the stream started arrives as a final `error` event.
    """
    prepared = await state.chat.prepare(body)
    return sse_response(state.chat.stream(prepared))
