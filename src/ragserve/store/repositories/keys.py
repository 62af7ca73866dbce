"""The ``api_keys`` table: a key's hash, prefix, scopes, expiry and last use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from ragserve.store.db import Database
from ragserve.store.tables import ApiKeyRow, UserRow


class KeyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: ApiKeyRow) -> ApiKeyRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def with_user(self, digest: str) -> tuple[ApiKeyRow, UserRow] | None:
        with self.db.session() as s:
            found = s.execute(
                select(ApiKeyRow, UserRow)
                .join(UserRow, UserRow.id == ApiKeyRow.user_id)
                .where(ApiKeyRow.key_hash == digest)
            ).first()
            return None if found is None else (found[0], found[1])

    def get(self, key_id: int) -> ApiKeyRow | None:
        with self.db.session() as s:
            return s.get(ApiKeyRow, key_id)

    def of_user(self, user_id: int | None) -> list[ApiKeyRow]:
        """A user's keys (every user's with None), revoked ones included, oldest first."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.id)
        if user_id is not None:
            query = query.where(ApiKeyRow.user_id == user_id)
        with self.db.session() as s:
            return list(s.scalars(query))

    def revoke(self, key_id: int, at: datetime) -> bool:
        with self.db.session() as s:
            result = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def touch(self, key_id: int, at: datetime) -> None:
        with self.db.session() as s:
            s.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at))
