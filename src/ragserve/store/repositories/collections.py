"""The ``collections`` table."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from ragserve.store.db import Database
from ragserve.store.tables import CollectionRow, DocumentRow, DocumentStatus


class CollectionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, name: str) -> CollectionRow | None:
        with self.db.session() as s:
            return s.get(CollectionRow, name)

    def add(self, row: CollectionRow) -> CollectionRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def set_retrieval_mode(self, name: str, mode: str | None) -> CollectionRow | None:
        """The updated row, or None if there is no such collection."""
        with self.db.session() as s:
            row = s.get(CollectionRow, name)
            if row is not None:
                row.retrieval_mode = mode
            return row

    def set_vectors(
        self, name: str, vector_collection: str, sparse_encoding: str | None
    ) -> CollectionRow | None:
        """Point the collection at other vectors (a re-index); None if there is no such one."""
        with self.db.session() as s:
            row = s.get(CollectionRow, name)
            if row is not None:
                row.vector_collection = vector_collection
                row.sparse_encoding = sparse_encoding
            return row

    def list_with_ready_counts(self) -> list[tuple[CollectionRow, int]]:
        """Every collection with its number of ready documents, by name."""
        with self.db.session() as s:
            ready = (
                select(DocumentRow.collection, func.count().label("n"))
                .where(DocumentRow.status == DocumentStatus.ready.value)
                .group_by(DocumentRow.collection)
                .subquery()
            )
            rows = s.execute(
                select(CollectionRow, func.coalesce(ready.c.n, 0))
                .outerjoin(ready, ready.c.collection == CollectionRow.name)
                .order_by(CollectionRow.name)
            ).all()
            return [(row, int(n)) for row, n in rows]

    def delete(self, name: str) -> None:
        with self.db.session() as s:
            s.execute(delete(CollectionRow).where(CollectionRow.name == name))
