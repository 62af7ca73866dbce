"""``POST /api/chat``: a cited answer as Server-Sent Events, with stored conversations.

event: meta       {"conversation_id", "collection"}
event: token      {"text"}                        one per streamed piece
event: citations  {"citations", "sources", "attribution", "indexing", "answer_mode", "highlights"}
event: done       the whole AskResult (``answer_mode`` says whether a model wrote it)
event: error      {"error": {...}}                instead of citations/done, then the end
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ragserve.api.errors import describe
from ragserve.api.serving.conversations import title_from_question
from ragserve.config import Settings
from ragserve.errors import NotFound
from ragserve.llm.base import ChatMessage
from ragserve.protocol import AskResult, ChatRequest
from ragserve.rag.answer import AnswerService, DoneEvent
from ragserve.rag.retrieve import Retriever
from ragserve.sse import event
from ragserve.store.catalog import Catalog
from ragserve.store.tables import ConversationRow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PreparedChat:
    request: ChatRequest
    collection: str
    conversation: ConversationRow | None
    history: list[ChatMessage]


class ChatServing:
    def __init__(
        self,
        settings: Settings,
        answers: AnswerService,
        retriever: Retriever,
        catalog: Catalog,
    ) -> None:
        self.settings = settings
        self.answers = answers
        self.retriever = retriever
        self.conversations = catalog.conversations

    async def prepare(self, request: ChatRequest) -> PreparedChat:
        """Check what can be checked before the stream starts, so it fails with a status."""
        conversation: ConversationRow | None = None
        history: list[ChatMessage] = []
        if request.conversation_id:
            conversation = await asyncio.to_thread(self.conversations.get, request.conversation_id)
            if conversation is None:
                raise NotFound(f"no conversation {request.conversation_id!r}")
            history = [
                ChatMessage(role=m["role"], content=m["content"])  # type: ignore[typeddict-item]
                for m in conversation.messages
            ]
        elif request.history:
            history = [ChatMessage(role=t.role, content=t.content) for t in request.history]
        default = conversation.collection if conversation else self.settings.collection
        collection = request.collection or default
        # A mode the collection cannot serve fails here, with a status, not mid-stream.
        self.retriever.plan(await self.retriever.aopen(collection), request.mode)
        if conversation is None and not request.history:
            conversation = ConversationRow(id=str(uuid.uuid4()), collection=collection, messages=[])
        return PreparedChat(request, collection, conversation, history)

    async def stream(self, chat: PreparedChat) -> AsyncIterator[str]:
        conv_id = chat.conversation.id if chat.conversation else None
        yield event("meta", {"conversation_id": conv_id, "collection": chat.collection})
        result: AskResult | None = None
        try:
            async for ev in self.answers.stream(
                chat.request.message,
                chat.collection,
                chat.history,
                chat.request.top_k,
                session_id=conv_id,
                mode=chat.request.mode,
                rerank=chat.request.rerank,
                answer_mode=chat.request.answer_mode,
            ):
                if isinstance(ev, DoneEvent):
                    result = ev.result
                else:
                    yield event("token", {"text": ev.text})
        except Exception as exc:
            status, body = describe(exc)
            if status == 500:
                log.exception("chat stream failed")
            yield event("error", body.model_dump())
            return
        assert result is not None
        yield event(
            "citations",
            {
                "citations": [c.model_dump() for c in result.citations],
                "sources": [c.model_dump() for c in result.sources],
                "attribution": result.attribution,
                "indexing": result.indexing,
                "answer_mode": result.answer_mode,
                "highlights": [h.model_dump() for h in result.highlights],
            },
        )
        if chat.conversation is not None:
            if not chat.conversation.title:
                chat.conversation.title = title_from_question(chat.request.message)
            chat.conversation.messages = [
                *chat.conversation.messages,
                {"role": "user", "content": chat.request.message},
                {"role": "assistant", "content": result.answer},
            ]
            await asyncio.to_thread(self.conversations.save, chat.conversation)
        yield event("done", result.model_dump(mode="json"))
