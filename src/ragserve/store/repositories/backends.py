"""The ``backends`` table: chat backends added at run time (the Resources store)."""

from __future__ import annotations

from sqlalchemy import select

from ragserve.store.db import Database
from ragserve.store.tables import BackendRow


class BackendRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ordered(self) -> list[BackendRow]:
        """In fallback order."""
        with self.db.session() as s:
            return list(
                s.scalars(select(BackendRow).order_by(BackendRow.position, BackendRow.name))
            )

    def save(self, row: BackendRow) -> None:
        with self.db.session() as s:
            s.merge(row)

    def reorder(self, names: list[str]) -> None:
        """Give the named backends positions 0, 1, 2... in that order."""
        with self.db.session() as s:
            for position, name in enumerate(names):
                row = s.get(BackendRow, name)
                if row is not None:
                    row.position = position

    def delete(self, name: str) -> bool:
        with self.db.session() as s:
            row = s.get(BackendRow, name)
            if row is None:
                return False
            s.delete(row)
            return True
