"""The ``groups`` and ``group_members`` tables."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select

from ragserve.store.db import Database
from ragserve.store.tables import CollectionMemberRow, GroupMemberRow, GroupRow, UserRow


class GroupRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def by_name(self, name: str) -> GroupRow | None:
        with self.db.session() as s:
            return s.scalar(select(GroupRow).where(GroupRow.name == name))

    def ensure(self, name: str) -> GroupRow:
        with self.db.session() as s:
            row = s.scalar(select(GroupRow).where(GroupRow.name == name))
            if row is None:
                row = GroupRow(name=name)
                s.add(row)
                s.flush()
            return row

    def delete(self, name: str) -> bool:
        with self.db.session() as s:
            row = s.scalar(select(GroupRow).where(GroupRow.name == name))
            if row is None:
                return False
            s.execute(
                delete(CollectionMemberRow).where(
                    CollectionMemberRow.principal_type == "group",
                    CollectionMemberRow.principal == name,
                )
            )
            s.delete(row)
            return True

    def all(self) -> list[tuple[GroupRow, list[str]]]:
        """Every group with its members' names."""
        with self.db.session() as s:
            groups = list(s.scalars(select(GroupRow).order_by(GroupRow.name)))
            pairs = s.execute(
                select(GroupMemberRow.group_id, UserRow.name).join(
                    UserRow, UserRow.id == GroupMemberRow.user_id
                )
            ).all()
            return [(g, sorted(n for gid, n in pairs if gid == g.id)) for g in groups]

    def of_user(self, user_id: int) -> frozenset[str]:
        with self.db.session() as s:
            return frozenset(
                s.scalars(
                    select(GroupRow.name)
                    .join(GroupMemberRow, GroupMemberRow.group_id == GroupRow.id)
                    .where(GroupMemberRow.user_id == user_id)
                )
            )

    def add_member(self, group_id: int, user_id: int) -> None:
        with self.db.session() as s:
            if s.get(GroupMemberRow, (group_id, user_id)) is None:
                s.add(GroupMemberRow(group_id=group_id, user_id=user_id))

    def remove_member(self, group_id: int, user_id: int) -> bool:
        with self.db.session() as s:
            row = s.get(GroupMemberRow, (group_id, user_id))
            if row is None:
                return False
            s.delete(row)
            return True

    def set_user_groups(self, user_id: int, names: Iterable[str]) -> None:
        """Exactly these groups for the user (SSO claims, refreshed at each login)."""
        wanted = {self.ensure(n).id for n in set(names)}
        with self.db.session() as s:
            s.execute(
                delete(GroupMemberRow).where(
                    GroupMemberRow.user_id == user_id, GroupMemberRow.group_id.not_in(wanted)
                )
            )
            have = set(
                s.scalars(select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == user_id))
            )
            for gid in wanted - have:
                s.add(GroupMemberRow(group_id=gid, user_id=user_id))
