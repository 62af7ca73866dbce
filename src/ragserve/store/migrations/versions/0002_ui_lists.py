"""What the web UI lists: conversations with titles and counts, documents paged at scale.

conversations: ``title``, ``created_at`` (old rows: their ``updated_at``), ``message_count``
(old rows: counted from their messages) and an index on ``updated_at`` (newest first).
documents: ``size_bytes`` of the stored original (old rows: NULL, read from disk when asked)
and the (collection, sort key, id) indexes the paged list reads, in place of the
plain one on ``collection``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from ragserve.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("title", sa.String(200), nullable=True))
        batch.add_column(sa.Column("created_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("message_count", sa.Integer(), nullable=False, server_default="0")
        )
    bind = op.get_bind()
    table = sa.table(
        "conversations",
        sa.column("id", sa.String()),
        sa.column("messages", sa.Text()),
        sa.column("message_count", sa.Integer()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    bind.execute(sa.update(table).values(created_at=table.c.updated_at))
    for conv_id, messages in bind.execute(sa.select(table.c.id, table.c.messages)).all():
        stored = json.loads(messages) if isinstance(messages, str) else messages
        bind.execute(
            sa.update(table).where(table.c.id == conv_id).values(message_count=len(stored or []))
        )
    with op.batch_alter_table("conversations") as batch:
        batch.alter_column("created_at", existing_type=UTCDateTime(), nullable=False)
        batch.alter_column("message_count", existing_type=sa.Integer(), server_default=None)
        batch.create_index("ix_conversations_updated_at", ["updated_at"])
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("size_bytes", sa.Integer(), nullable=True))
        batch.create_index("ix_documents_collection_source", ["collection", "source", "id"])
        batch.create_index("ix_documents_collection_updated_at", ["collection", "updated_at", "id"])
        batch.create_index(
            "ix_documents_collection_status", ["collection", "status", "source", "id"]
        )
        # Each new index begins with the collection: this one only misled the planner into
        # reading rows where an index alone answers.
        batch.drop_index("ix_documents_collection")


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.create_index("ix_documents_collection", ["collection"])
        batch.drop_index("ix_documents_collection_status")
        batch.drop_index("ix_documents_collection_updated_at")
        batch.drop_index("ix_documents_collection_source")
        batch.drop_column("size_bytes")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_updated_at")
        batch.drop_column("message_count")
        batch.drop_column("created_at")
        batch.drop_column("title")
