"""The ``collection_members`` table: users' and groups' roles on collections."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select, update

from ragserve.store.db import Database
from ragserve.store.tables import CollectionMemberRow, CollectionRow, JobRow


class MemberRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of_collection(self, collection: str) -> list[CollectionMemberRow]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(CollectionMemberRow)
                    .where(CollectionMemberRow.collection == collection)
                    .order_by(CollectionMemberRow.principal_type, CollectionMemberRow.principal)
                )
            )

    def roles_of(
        self, user: str, groups: Iterable[str], collection: str | None = None
    ) -> list[tuple[str, str]]:
        """(collection, role) of every share naming the user or one of the groups."""
        who = [
            and_(
                CollectionMemberRow.principal_type == "user",
                CollectionMemberRow.principal == user,
            )
        ]
        names = list(groups)
        if names:
            who.append(
                and_(
                    CollectionMemberRow.principal_type == "group",
                    CollectionMemberRow.principal.in_(names),
                )
            )
        query = select(CollectionMemberRow.collection, CollectionMemberRow.role).where(or_(*who))
        if collection is not None:
            query = query.where(CollectionMemberRow.collection == collection)
        with self.db.session() as s:
            return [(c, r) for c, r in s.execute(query).all()]

    def put(self, collection: str, kind: str, name: str, role: str) -> None:
        with self.db.session() as s:
            s.merge(
                CollectionMemberRow(
                    collection=collection, principal_type=kind, principal=name, role=role
                )
            )

    def delete(self, collection: str, kind: str, name: str) -> bool:
        with self.db.session() as s:
            row = s.get(CollectionMemberRow, (collection, kind, name))
            if row is None:
                return False
            s.delete(row)
            return True

    def owners(self) -> dict[str, int | None]:
        """Every collection's owner (None: unowned, so admins' only)."""
        with self.db.session() as s:
            return {n: o for n, o in s.execute(select(CollectionRow.name, CollectionRow.owner_id))}

    def claim(self, collection: str, user_id: int) -> None:
        """The user owns the collection, unless it has an owner already."""
        with self.db.session() as s:
            s.execute(
                update(CollectionRow)
                .where(CollectionRow.name == collection, CollectionRow.owner_id.is_(None))
                .values(owner_id=user_id)
            )

    def claim_job(self, job_id: str, user_id: int) -> None:
        with self.db.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.user_id.is_(None))
                .values(user_id=user_id)
            )
