"""The ``conversations`` table: stored chat turns, listed newest first."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import defer

from ragserve.store.db import Database
from ragserve.store.tables import ConversationRow


class ConversationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, conv_id: str) -> ConversationRow | None:
        with self.db.session() as s:
            return s.get(ConversationRow, conv_id)

    def save(self, row: ConversationRow) -> None:
        row.message_count = len(row.messages or [])
        with self.db.session() as s:
            s.merge(row)

    def page(
        self, collection: str | None, limit: int, offset: int, user_id: int | None = None
    ) -> tuple[list[ConversationRow], int]:
        """Most recently updated first (``messages`` not loaded), and how many in all;
        with ``user_id``, only that user's."""
        where = [] if collection is None else [ConversationRow.collection == collection]
        if user_id is not None:
            where.append(ConversationRow.user_id == user_id)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(ConversationRow).where(*where))
            rows = s.scalars(
                select(ConversationRow)
                .options(defer(ConversationRow.messages))  # a list shows no turns
                .where(*where)
                .order_by(ConversationRow.updated_at.desc(), ConversationRow.id)
                .limit(limit)
                .offset(offset)
            )
            return list(rows), int(total or 0)

    def rename(self, conv_id: str, title: str) -> bool:
        with self.db.session() as s:
            row = s.get(ConversationRow, conv_id)
            if row is None:
                return False
            row.title = title
            return True

    def delete(self, conv_id: str) -> bool:
        with self.db.session() as s:
            result = s.execute(delete(ConversationRow).where(ConversationRow.id == conv_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]
