"""Collections, documents, ingestion jobs and conversations in SQL via SQLAlchemy.

SQLite by default (WAL, so a killed process loses nothing committed); the same models run on
PostgreSQL by URL. Document rows double as the durable ingestion queue: ``queued`` and
``indexing`` rows are what a restarted server resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class DocumentStatus(StrEnum):
    queued = "queued"
    indexing = "indexing"
    ready = "ready"
    failed = "failed"


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CollectionRow(Base):
    __tablename__ = "collections"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    embed_model: Mapped[str] = mapped_column(String(500))
    dimension: Mapped[int]
    vector_collection: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(
        ForeignKey("collections.name", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(4096))
    title: Mapped[str | None] = mapped_column(String(1000))
    kind: Mapped[str | None] = mapped_column(String(20))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.queued.value)
    error: Mapped[str | None] = mapped_column(String(2000))
    chunks: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)
    # Hash of the version whose chunks are complete in the vector store (None: none is).
    indexed_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The file the ingestion service reads (an upload's copy, or an admin's server path).
    stored_path: Mapped[str | None] = mapped_column(String(4096), default=None)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    queued_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class JobRow(Base):
    """One ingestion request: the documents it queued and how each one ended."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class JobItemRow(Base):
    __tablename__ = "job_items"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    source: Mapped[str] = mapped_column(String(4096))
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.queued.value)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    chunks: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(String(200))
    messages: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class BackendRow(Base):
    """A chat backend added at run time (the Resources store), in fallback order."""

    __tablename__ = "backends"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=_now)


#: Columns added after the first release; old databases get them on open.
_ADDED_COLUMNS = {
    "documents": {
        "indexed_hash": "VARCHAR(64)",
        "stored_path": "VARCHAR(4096)",
        "job_id": "VARCHAR(36)",
        "queued_at": "DATETIME",
    }
}


def _add_missing_columns(engine: Engine) -> None:
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table, columns in _ADDED_COLUMNS.items():
            have = {c["name"] for c in inspector.get_columns(table)}
            for name, sql_type in columns.items():
                if name not in have:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"))


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL still survives a killed process; only power loss can drop the last
    # commits. FULL would fsync on every chat turn and job update.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class MetadataStore:
    """Rows for collections and documents; each method is one short transaction."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def get_collection(self, name: str) -> CollectionRow | None:
        with self.session() as s:
            return s.get(CollectionRow, name)

    def add_collection(self, row: CollectionRow) -> CollectionRow:
        with self.session() as s:
            s.add(row)
        return row

    def list_collections(self) -> list[tuple[CollectionRow, int]]:
        """Every collection with its number of ready documents."""
        with self.session() as s:
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

    def delete_collection(self, name: str) -> None:
        with self.session() as s:
            for doc in s.scalars(select(DocumentRow).where(DocumentRow.collection == name)):
                s.delete(doc)
            row = s.get(CollectionRow, name)
            if row is not None:
                s.delete(row)

    def get_document(self, doc_id: str) -> DocumentRow | None:
        with self.session() as s:
            return s.get(DocumentRow, doc_id)

    def save_document(self, row: DocumentRow) -> None:
        with self.session() as s:
            s.merge(row)

    def update_document(self, doc_id: str, **fields: Any) -> DocumentRow:
        """Set ``fields`` on a document row, creating it (with ``fields``) if missing."""
        with self.session() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None:
                row = DocumentRow(id=doc_id, **{"chunks": 0, **fields})
                s.add(row)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
            if "status" in fields and row.job_id:
                item_fields = {"status": fields["status"]}
                for key in ("error", "chunks"):
                    if key in fields:
                        item_fields[key] = fields[key]
                s.execute(
                    update(JobItemRow)
                    .where(JobItemRow.job_id == row.job_id, JobItemRow.document_id == doc_id)
                    .values(**item_fields, updated_at=_now())
                )
            return row

    def delete_document(self, doc_id: str) -> None:
        with self.session() as s:
            s.execute(delete(DocumentRow).where(DocumentRow.id == doc_id))

    def pending_documents(self) -> list[DocumentRow]:
        """Queued and indexing documents, oldest first: the work a restart resumes."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow)
                    .where(
                        DocumentRow.status.in_(
                            [DocumentStatus.queued.value, DocumentStatus.indexing.value]
                        )
                    )
                    .order_by(DocumentRow.queued_at, DocumentRow.id)
                )
            )

    def not_ready(self, collection: str) -> list[DocumentRow]:
        """Documents of ``collection`` that are queued or indexing right now."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow).where(
                        DocumentRow.collection == collection,
                        DocumentRow.status.in_(
                            [DocumentStatus.queued.value, DocumentStatus.indexing.value]
                        ),
                    )
                )
            )

    def add_job(
        self, job: JobRow, items: list[JobItemRow], documents: list[dict[str, Any]]
    ) -> None:
        """Record a job, its items and the documents it queues (``id`` plus the fields to
        set on each), in one transaction."""
        with self.session() as s:
            s.add(job)
            s.flush()  # the job row first: items reference it
            s.add_all(items)
            for fields in documents:
                row = s.get(DocumentRow, fields["id"])
                if row is None:
                    s.add(DocumentRow(**{"chunks": 0, **fields}))
                else:
                    for key, value in fields.items():
                        setattr(row, key, value)

    def get_job(self, job_id: str) -> tuple[JobRow, list[JobItemRow]] | None:
        with self.session() as s:
            job = s.get(JobRow, job_id)
            if job is None:
                return None
            items = s.scalars(
                select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.id)
            )
            return job, list(items)

    def list_jobs(self, limit: int = 50) -> list[JobRow]:
        with self.session() as s:
            return list(s.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)))

    def list_backends(self) -> list[BackendRow]:
        with self.session() as s:
            return list(
                s.scalars(select(BackendRow).order_by(BackendRow.position, BackendRow.name))
            )

    def save_backend(self, row: BackendRow) -> None:
        with self.session() as s:
            s.merge(row)

    def delete_backend(self, name: str) -> bool:
        with self.session() as s:
            row = s.get(BackendRow, name)
            if row is None:
                return False
            s.delete(row)
            return True

    def get_conversation(self, conv_id: str) -> ConversationRow | None:
        with self.session() as s:
            return s.get(ConversationRow, conv_id)

    def save_conversation(self, row: ConversationRow) -> None:
        with self.session() as s:
            s.merge(row)

    def list_documents(self, collection: str) -> list[DocumentRow]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow)
                    .where(DocumentRow.collection == collection)
                    .order_by(DocumentRow.source)
                )
            )
