from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ragserve.api.deps import State
from ragserve.api.sse import sse_response
from ragserve.errors import NotFound
from ragserve.protocol import ChatRequest, ChatTurn, ConversationInfo

router = APIRouter(prefix="/api", tags=["chat"])


@router.post("/chat", response_class=StreamingResponse)
async def chat(body: ChatRequest, state: State) -> StreamingResponse:
    """A cited answer as Server-Sent Events: `meta`, `token`…, `citations`, `done`.

    A failure after the stream started arrives as a final `error` event.
    """
    prepared = await state.chat.prepare(body)
    return sse_response(state.chat.stream(prepared))


@router.get("/conversations/{conversation_id}", response_model=ConversationInfo)
def get_conversation(conversation_id: str, state: State) -> ConversationInfo:
    """A stored conversation's turns, oldest first."""
    row = state.ingest.catalog.metadata.get_conversation(conversation_id)
    if row is None:
        raise NotFound(f"no conversation {conversation_id!r}")
    return ConversationInfo(
        id=row.id,
        collection=row.collection,
        messages=[ChatTurn.model_validate(m) for m in row.messages],
    )
