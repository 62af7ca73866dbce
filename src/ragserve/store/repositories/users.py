"""The ``users`` table; the first admin claims what existed before users."""

from __future__ import annotations

from sqlalchemy import delete, exists, func, select, update

from ragserve.store.db import Database
from ragserve.store.tables import (
    CollectionMemberRow,
    CollectionRow,
    ConversationRow,
    JobRow,
    UserRow,
)


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def any(self) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(exists().where(UserRow.id.is_not(None)))))

    def get(self, user_id: int) -> UserRow | None:
        with self.db.session() as s:
            return s.get(UserRow, user_id)

    def by_name(self, name: str) -> UserRow | None:
        with self.db.session() as s:
            return s.scalar(select(UserRow).where(UserRow.name == name))

    def by_subject(self, subject: str) -> UserRow | None:
        with self.db.session() as s:
            return s.scalar(select(UserRow).where(UserRow.sso_subject == subject))

    def all(self) -> list[UserRow]:
        with self.db.session() as s:
            return list(s.scalars(select(UserRow).order_by(UserRow.name)))

    def names(self, contains: str | None, limit: int) -> list[str]:
        query = select(UserRow.name).where(UserRow.disabled.is_(False))
        if contains:
            query = query.where(func.lower(UserRow.name).contains(contains.lower()))
        with self.db.session() as s:
            return list(s.scalars(query.order_by(UserRow.name).limit(limit)))

    def add(self, row: UserRow) -> UserRow:
        """Stores the user; the first admin becomes the owner of every unowned collection,
        conversation and job (what was made in single-key or open mode)."""
        with self.db.session() as s:
            first_admin = row.is_admin and not s.scalar(
                select(exists().where(UserRow.is_admin.is_(True)))
            )
            s.add(row)
            s.flush()
            if first_admin:
                s.execute(
                    update(CollectionRow)
                    .where(CollectionRow.owner_id.is_(None))
                    .values(owner_id=row.id)
                )
                s.execute(
                    update(ConversationRow)
                    .where(ConversationRow.user_id.is_(None))
                    .values(user_id=row.id)
                )
                s.execute(update(JobRow).where(JobRow.user_id.is_(None)).values(user_id=row.id))
        return row

    def update(self, user_id: int, **fields: object) -> None:
        with self.db.session() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(**fields))

    def delete(self, user_id: int) -> None:
        """The user, their keys and shares; what they own goes back to the admins."""
        with self.db.session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                return
            s.execute(
                delete(CollectionMemberRow).where(
                    CollectionMemberRow.principal_type == "user",
                    CollectionMemberRow.principal == row.name,
                )
            )
            s.execute(
                update(CollectionRow).where(CollectionRow.owner_id == user_id).values(owner_id=None)
            )
            s.delete(row)
