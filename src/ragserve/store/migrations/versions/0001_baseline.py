"""Baseline: the tables of ragserve 0.1.

Databases written before migrations existed have some of these tables, possibly without the
columns added later; both are brought to this schema here, so every later migration can
assume it.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ragserve.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _late_document_columns() -> list[sa.Column[object]]:
    """Columns of ``documents`` that pre-migration databases may lack (new objects each
    call: a Column belongs to one table)."""
    return [
        sa.Column("indexed_hash", sa.String(64), nullable=True),
        sa.Column("stored_path", sa.String(4096), nullable=True),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "collections" not in have:
        op.create_table(
            "collections",
            sa.Column("name", sa.String(200), primary_key=True),
            sa.Column("embed_model", sa.String(500), nullable=False),
            sa.Column("dimension", sa.Integer(), nullable=False),
            sa.Column("vector_collection", sa.String(300), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )
    if "documents" not in have:
        op.create_table(
            "documents",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column(
                "collection",
                sa.String(200),
                sa.ForeignKey("collections.name", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("source", sa.String(4096), nullable=False),
            sa.Column("title", sa.String(1000), nullable=True),
            sa.Column("kind", sa.String(20), nullable=True),
            sa.Column("content_hash", sa.String(64), nullable=True),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("error", sa.String(2000), nullable=True),
            sa.Column("chunks", sa.Integer(), nullable=False),
            sa.Column("pages", sa.Integer(), nullable=True),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
            *_late_document_columns(),
        )
        op.create_index("ix_documents_collection", "documents", ["collection"])
        op.create_index("ix_documents_queued_at", "documents", ["queued_at"])
    else:
        present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
        missing = [c for c in _late_document_columns() if c.name not in present]
        if missing:
            with op.batch_alter_table("documents") as batch:
                for column in missing:
                    batch.add_column(column)
        indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("documents")}
        for index, indexed in [
            ("ix_documents_collection", "collection"),
            ("ix_documents_queued_at", "queued_at"),
        ]:
            if index not in indexes:
                op.create_index(index, "documents", [indexed])
    if "jobs" not in have:
        op.create_table(
            "jobs",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("collection", sa.String(200), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )
        op.create_index("ix_jobs_collection", "jobs", ["collection"])
    if "job_items" not in have:
        op.create_table(
            "job_items",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column(
                "job_id",
                sa.String(36),
                sa.ForeignKey("jobs.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("document_id", sa.String(36), nullable=False),
            sa.Column("source", sa.String(4096), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("error", sa.String(2000), nullable=True),
            sa.Column("chunks", sa.Integer(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
        )
        op.create_index("ix_job_items_job_id", "job_items", ["job_id"])
        op.create_index("ix_job_items_document_id", "job_items", ["document_id"])
    if "conversations" not in have:
        op.create_table(
            "conversations",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("collection", sa.String(200), nullable=False),
            sa.Column("messages", sa.JSON(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
        )
    if "backends" not in have:
        op.create_table(
            "backends",
            sa.Column("name", sa.String(100), primary_key=True),
            sa.Column("spec", sa.JSON(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )


def downgrade() -> None:
    for table in ("backends", "conversations", "job_items", "jobs", "documents", "collections"):
        op.drop_table(table)
