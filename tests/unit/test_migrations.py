"""The schema comes from Alembic migrations, for new databases and old ones alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ragserve.store.db import Database
from ragserve.store.tables import Base, CollectionRow, DocumentRow

# The tables as ragserve 0.1 first wrote them, before migrations, with one document.
OLD_SCHEMA = """
CREATE TABLE collections (name VARCHAR(200) PRIMARY KEY, embed_model VARCHAR(500) NOT NULL,
    dimension INTEGER NOT NULL, vector_collection VARCHAR(300) NOT NULL,
    created_at DATETIME NOT NULL);
CREATE TABLE documents (id VARCHAR(36) PRIMARY KEY, collection VARCHAR(200) NOT NULL
    REFERENCES collections(name) ON DELETE CASCADE, source VARCHAR(4096) NOT NULL,
    title VARCHAR(1000), kind VARCHAR(20), content_hash VARCHAR(64), status VARCHAR(20) NOT NULL,
    error VARCHAR(2000), chunks INTEGER NOT NULL, pages INTEGER, updated_at DATETIME NOT NULL);
CREATE INDEX ix_documents_collection ON documents (collection);
INSERT INTO collections VALUES ('team', 'm', 384, 'team__m__384', '2026-01-02 03:04:05');
INSERT INTO documents VALUES ('d1', 'team', 'a.md', NULL, 'markdown', 'h', 'ready', NULL, 3,
    NULL, '2026-01-02 03:04:05');
"""


def test_a_new_database_matches_the_mapped_tables(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.close()


def test_a_database_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    db = Database(f"sqlite:///{path}")
    columns = {c["name"] for c in inspect(db.engine).get_columns("documents")}
    assert {"indexed_hash", "stored_path", "job_id", "queued_at"} <= columns
    assert {"jobs", "job_items", "conversations", "backends", "alembic_version"} <= set(
        inspect(db.engine).get_table_names()
    )
    with db.session() as s:
        row = s.get(DocumentRow, "d1")
        assert row is not None and row.chunks == 3 and row.status == "ready"
        assert row.updated_at.tzinfo is not None  # RFC 3339 on the wire, never naive
        # A collection from before hybrid search: no sparse side, the server's default mode.
        team = s.get(CollectionRow, "team")
        assert team is not None and team.sparse_encoding is None and team.retrieval_mode is None
    db.close()
    Database(f"sqlite:///{path}").close()  # opening again is a no-op
