"""Stored conversations: listed newest first, created empty, renamed, deleted."""

from __future__ import annotations

import uuid

from ragserve.config import Settings
from ragserve.errors import NotFound
from ragserve.protocol import (
    ChatTurn,
    ConversationCreate,
    ConversationInfo,
    ConversationSummary,
)
from ragserve.store.catalog import Catalog
from ragserve.store.tables import ConversationRow

UNTITLED = "New conversation"
#: A title taken from the first question is cut to this many characters.
TITLE_CHARS = 80


def title_from_question(question: str) -> str:
    """The first question on one line, cut short at a word where it can be."""
    text = " ".join(question.split())
    if len(text) <= TITLE_CHARS:
        return text or UNTITLED
    cut = text[: TITLE_CHARS - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > TITLE_CHARS // 2 else cut) + "…"


def summary(row: ConversationRow) -> ConversationSummary:
    return ConversationSummary(
        id=row.id,
        title=row.title or UNTITLED,
        collection=row.collection,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
    )


class ConversationServing:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.conversations = catalog.conversations

    def get(self, conversation_id: str) -> ConversationInfo:
        row = self.conversations.get(conversation_id)
        if row is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        return ConversationInfo(
            id=row.id,
            collection=row.collection,
            messages=[ChatTurn.model_validate(m) for m in row.messages],
            title=row.title,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def page(
        self, collection: str | None, limit: int, offset: int, user_id: int | None = None
    ) -> tuple[list[ConversationSummary], int]:
        rows, total = self.conversations.page(collection, limit, offset, user_id)
        return [summary(r) for r in rows], total

    def create(self, body: ConversationCreate, user_id: int | None = None) -> ConversationSummary:
        row = ConversationRow(
            id=str(uuid.uuid4()),
            collection=body.collection or self.settings.collection,
            messages=[],
            title=body.title,
            user_id=user_id,
        )
        self.conversations.save(row)
        saved = self.conversations.get(row.id)
        assert saved is not None
        return summary(saved)

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        if not self.conversations.rename(conversation_id, title):
            raise NotFound(f"no conversation {conversation_id!r}")
        row = self.conversations.get(conversation_id)
        if row is None:  # deleted in between
            raise NotFound(f"no conversation {conversation_id!r}")
        return summary(row)

    def delete(self, conversation_id: str) -> None:
        if not self.conversations.delete(conversation_id):
            raise NotFound(f"no conversation {conversation_id!r}")
