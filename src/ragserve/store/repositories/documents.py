"""The ``documents`` table; its queued and indexing rows are the durable ingestion queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from ragserve.store.db import Database
from ragserve.store.tables import DocumentRow, DocumentStatus

_PENDING = [DocumentStatus.queued.value, DocumentStatus.indexing.value]


class DocumentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, doc_id: str) -> DocumentRow | None:
        with self.db.session() as s:
            return s.get(DocumentRow, doc_id)

    def save(self, row: DocumentRow) -> None:
        with self.db.session() as s:
            s.merge(row)

    def update(self, doc_id: str, **fields: Any) -> DocumentRow:
        """Set ``fields`` on a document row, creating it (with ``fields``) if missing."""
        with self.db.session() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None:
                row = DocumentRow(id=doc_id, **{"chunks": 0, **fields})
                s.add(row)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
            return row

    def delete(self, doc_id: str) -> None:
        with self.db.session() as s:
            s.execute(delete(DocumentRow).where(DocumentRow.id == doc_id))

    def delete_in_collection(self, collection: str) -> None:
        with self.db.session() as s:
            s.execute(delete(DocumentRow).where(DocumentRow.collection == collection))

    def in_collection(self, collection: str) -> list[DocumentRow]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow)
                    .where(DocumentRow.collection == collection)
                    .order_by(DocumentRow.source)
                )
            )

    def pending(self) -> list[DocumentRow]:
        """Queued and indexing documents, oldest first: the work a restart resumes."""
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow)
                    .where(DocumentRow.status.in_(_PENDING))
                    .order_by(DocumentRow.queued_at, DocumentRow.id)
                )
            )

    def not_ready(self, collection: str) -> list[DocumentRow]:
        """Documents of ``collection`` that are queued or indexing right now."""
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow).where(
                        DocumentRow.collection == collection, DocumentRow.status.in_(_PENDING)
                    )
                )
            )

    def count_by_status(self) -> dict[str, int]:
        """How many documents are in each status, over every collection (for ``/metrics``)."""
        with self.db.session() as s:
            rows = s.execute(select(DocumentRow.status, func.count()).group_by(DocumentRow.status))
            return {str(status): int(n) for status, n in rows}
