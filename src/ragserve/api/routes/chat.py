from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ragserve.api.deps import Chat, Conversations
from ragserve.protocol import ChatRequest, ConversationInfo
from ragserve.sse import sse_response

router = APIRouter(prefix="/api", tags=["chat"])


@router.post("/chat", response_class=StreamingResponse)
async def chat(body: ChatRequest, serving: Chat) -> StreamingResponse:
    """A cited answer as Server-Sent Events: `meta`, `token`…, `citations`, `done`.

    A failure after the stream started arrives as a final `error` event.
    """
    prepared = await serving.prepare(body)
    return sse_response(serving.stream(prepared))


@router.get("/conversations/{conversation_id}", response_model=ConversationInfo)
def get_conversation(conversation_id: str, conversations: Conversations) -> ConversationInfo:
    """A stored conversation's turns, oldest first."""
    return conversations.get(conversation_id)
