"""Collections and documents in SQL (SQLite by default, PostgreSQL by URL) via SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, create_engine, event, func, select
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


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
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

    def list_documents(self, collection: str) -> list[DocumentRow]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(DocumentRow)
                    .where(DocumentRow.collection == collection)
                    .order_by(DocumentRow.source)
                )
            )
