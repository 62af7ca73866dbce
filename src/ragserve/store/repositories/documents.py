"""The ``documents`` table; its queued and indexing rows are the durable ingestion queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from ragserve.protocol import DocumentSort
from ragserve.store.db import Database
from ragserve.store.tables import DocumentRow, DocumentStatus

_PENDING = [DocumentStatus.queued.value, DocumentStatus.indexing.value]


@dataclass(frozen=True, slots=True)
class DocumentQuery:
    """One page of a collection's documents: filtered, sorted, and the total it was cut from."""

    status: str | None = None
    name_contains: str | None = None
    sort: DocumentSort = "name"
    limit: int | None = None
    offset: int = 0


def _order(sort: DocumentSort) -> list[ColumnElement[Any]]:
    """The ORDER BY for ``sort``; the id breaks ties, so pages never overlap or skip."""
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    by_key: dict[str, list[Any]] = {
        "name": [DocumentRow.source],
        "updated": [DocumentRow.updated_at],
        "status": [DocumentRow.status, DocumentRow.source],
    }
    columns = [*by_key[key], DocumentRow.id]
    return [c.desc() if descending else c.asc() for c in columns]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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

    def set_progress(self, doc_id: str, progress: float) -> None:
        """Record how far indexing has come; a row not stored (a CLI run's) stays absent."""
        with self.db.session() as s:
            s.execute(update(DocumentRow).where(DocumentRow.id == doc_id).values(progress=progress))

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

    def page(self, collection: str, query: DocumentQuery) -> tuple[list[DocumentRow], int]:
        """The documents ``query`` selects, and how many match before the page is cut: three
        indexed queries, whatever the collection's size."""
        where: list[ColumnElement[bool]] = [DocumentRow.collection == collection]
        if query.status is not None:
            where.append(DocumentRow.status == query.status)
        if query.name_contains:
            pattern = f"%{_like_escaped(query.name_contains)}%"
            # SQLite's LIKE ignores (ASCII) case already and can then read the names from
            # the index; elsewhere ILIKE.
            source = DocumentRow.source
            if self.db.engine.dialect.name == "sqlite":
                where.append(source.like(pattern, escape="\\"))
            else:
                where.append(source.ilike(pattern, escape="\\"))
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(DocumentRow).where(*where))
            order = _order(query.sort)
            if query.limit is None:  # every match, as before paging
                rows = select(DocumentRow).where(*where).order_by(*order).offset(query.offset)
                return list(s.scalars(rows)), int(total or 0)
            # The page's ids first, from the index alone (a deep offset skips index entries,
            # not rows); then only those rows.
            ids = select(DocumentRow.id).where(*where).order_by(*order)
            page = list(s.scalars(ids.limit(query.limit).offset(query.offset)))
            found = s.scalars(select(DocumentRow).where(DocumentRow.id.in_(page)))
            by_id = {r.id: r for r in found}
            return [by_id[i] for i in page if i in by_id], int(total or 0)

    def totals(self) -> dict[str, tuple[dict[str, int], int, int]]:
        """Per collection: documents by status, chunks of ready documents, stored bytes."""
        out: dict[str, tuple[dict[str, int], int, int]] = {}
        with self.db.session() as s:
            rows = s.execute(
                select(
                    DocumentRow.collection,
                    DocumentRow.status,
                    func.count(),
                    func.coalesce(func.sum(DocumentRow.chunks), 0),
                    func.coalesce(func.sum(DocumentRow.size_bytes), 0).label("size"),
                ).group_by(DocumentRow.collection, DocumentRow.status)
            )
            for collection, status, count, chunks, size in rows:
                by_status, all_chunks, all_bytes = out.get(collection, ({}, 0, 0))
                by_status[str(status)] = int(count)
                if status == DocumentStatus.ready.value:
                    all_chunks += int(chunks)
                out[collection] = (by_status, all_chunks, all_bytes + int(size or 0))
        return out

    def changed_since(self, collection: str, since: Any) -> list[DocumentRow]:
        """Documents of ``collection`` updated at or after ``since`` (the live status feed)."""
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow)
                    .where(DocumentRow.collection == collection, DocumentRow.updated_at >= since)
                    .order_by(DocumentRow.updated_at, DocumentRow.id)
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
