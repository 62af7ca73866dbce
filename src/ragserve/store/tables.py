"""The SQL tables: one mapped class per table. Schema changes go through Alembic migrations
(``store/migrations``), never ``create_all`` on a live database."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class DocumentStatus(StrEnum):
    queued = "queued"
    indexing = "indexing"
    ready = "ready"
    failed = "failed"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as UTC, read back as UTC: SQLite keeps no zone, and the API promises
    RFC 3339 timestamps (``...+00:00``), never naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # PostgreSQL answers in the session's TimeZone setting, which may not be UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ClippedString(TypeDecorator[str]):
    """Free text (titles taken from documents, error messages) cut to the column's length:
    SQLite ignores ``VARCHAR(n)``, PostgreSQL refuses a longer value and would fail the
    write."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or len(value) <= self.length:
            return value
        return value[: self.length - 1] + "…"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}  # noqa: RUF012 (SQLAlchemy reads it as is)


class CollectionRow(Base):
    __tablename__ = "collections"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    embed_model: Mapped[str] = mapped_column(String(500))
    dimension: Mapped[int]
    vector_collection: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The sparse (BM25) side's encoding, e.g. "bm25/kiwi-words/2"; None: the collection has
    # no sparse side (made before hybrid search, or with RAGSERVE_SPARSE=off).
    sparse_encoding: Mapped[str | None] = mapped_column(String(100), default=None)
    # dense | sparse | hybrid, overriding the server's RAGSERVE_RETRIEVAL_MODE; None: no override.
    retrieval_mode: Mapped[str | None] = mapped_column(String(20), default=None)
    # The user who owns it; None: made before users existed, or in single-key/open mode
    # (only admins and those keys see it; the first admin claims them all).
    # A plain column, not a foreign key: adding one would make SQLite rebuild this table,
    # and dropping the old one would cascade to every document.
    owner_id: Mapped[int | None] = mapped_column(default=None, index=True)


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Indexed by the (collection, ...) indexes below, which begin with it.
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(4096))
    title: Mapped[str | None] = mapped_column(ClippedString(1000))
    kind: Mapped[str | None] = mapped_column(String(20))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.queued.value)
    error: Mapped[str | None] = mapped_column(ClippedString(2000))
    chunks: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Hash of the version whose chunks are complete in the vector store (None: none is).
    indexed_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The file the ingestion service reads (an upload's copy, or an admin's server path).
    stored_path: Mapped[str | None] = mapped_column(String(4096), default=None)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    queued_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # Bytes of the stored original (None: recorded before sizes were kept).
    size_bytes: Mapped[int | None] = mapped_column(default=None)
    # Fraction of the text stored while indexing, written by the writer per window: read
    # from the database, it is true whichever process indexes the document.
    progress: Mapped[float | None] = mapped_column(Float, default=None)

    # The documents list pages a collection by name, time or status: each order is one of
    # these indexes, ending in the id that breaks ties, so a page (even a deep one) is read
    # from the index alone and only its 50 rows are fetched.
    __table_args__ = (
        Index("ix_documents_collection_source", "collection", "source", "id"),
        Index("ix_documents_collection_updated_at", "collection", "updated_at", "id"),
        Index("ix_documents_collection_status", "collection", "status", "source", "id"),
    )


class JobRow(Base):
    """One ingestion request: the documents it queued and how each one ended."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who asked for it (None: single-key/open mode, or before users existed).
    user_id: Mapped[int | None] = mapped_column(default=None, index=True)


class JobItemRow(Base):
    __tablename__ = "job_items"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    source: Mapped[str] = mapped_column(String(4096))
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.queued.value)
    error: Mapped[str | None] = mapped_column(ClippedString(2000), default=None)
    chunks: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(String(200))
    messages: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    # None until named: set by a rename, or to the first question when it is asked.
    title: Mapped[str | None] = mapped_column(ClippedString(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Kept beside the JSON so the list counts messages without reading every conversation.
    message_count: Mapped[int] = mapped_column(default=0)
    # Its user: nobody else lists or reads it (None: single-key/open mode).
    user_id: Mapped[int | None] = mapped_column(default=None, index=True)


class BackendRow(Base):
    """A chat backend added at run time (the Resources store), in fallback order."""

    __tablename__ = "backends"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserRow(Base):
    """Someone who signs in with a key (``ragserve users create``) or through SSO."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    # The OpenID Connect ``sub`` of an SSO user (None: made on the command line).
    sso_subject: Mapped[str | None] = mapped_column(String(500), unique=True, default=None)
    email: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKeyRow(Base):
    """A user's API key: only its SHA-256 is kept; ``prefix`` is shown to tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class GroupRow(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMemberRow(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CollectionMemberRow(Base):
    """A user or group's role on a collection: viewer, editor or owner."""

    __tablename__ = "collection_members"

    collection: Mapped[str] = mapped_column(
        ForeignKey("collections.name", ondelete="CASCADE"), primary_key=True
    )
    principal_type: Mapped[str] = mapped_column(String(10), primary_key=True)  # user | group
    # The user's or group's name (names never change; deleting one deletes its shares).
    principal: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))

    __table_args__ = (Index("ix_collection_members_principal", "principal_type", "principal"),)


class AuditRow(Base):
    """Who created, shared, deleted or reconfigured what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(ClippedString(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SessionRow(Base):
    """A browser session after single sign-on (migration 0006); the cookie's id and the CSRF
    token are stored only as SHA-256 hashes."""

    __tablename__ = "sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    id_token: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class OidcLoginRow(Base):
    """A sign-in sent to the OpenID provider and not back yet (migration 0006)."""

    __tablename__ = "oidc_logins"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    verifier: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str] = mapped_column(String(2000))
    expires_at: Mapped[datetime] = mapped_column(index=True)
