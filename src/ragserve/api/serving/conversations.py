"""Stored conversations."""

from __future__ import annotations

from ragserve.errors import NotFound
from ragserve.protocol import ChatTurn, ConversationInfo
from ragserve.store.catalog import Catalog


class ConversationServing:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get(self, conversation_id: str) -> ConversationInfo:
        row = self.catalog.conversations.get(conversation_id)
        if row is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        return ConversationInfo(
            id=row.id,
            collection=row.collection,
            messages=[ChatTurn.model_validate(m) for m in row.messages],
        )
