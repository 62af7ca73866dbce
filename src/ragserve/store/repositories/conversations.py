"""The ``conversations`` table: stored chat turns."""

from __future__ import annotations

from ragserve.store.db import Database
from ragserve.store.tables import ConversationRow


class ConversationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, conv_id: str) -> ConversationRow | None:
        with self.db.session() as s:
            return s.get(ConversationRow, conv_id)

    def save(self, row: ConversationRow) -> None:
        with self.db.session() as s:
            s.merge(row)
