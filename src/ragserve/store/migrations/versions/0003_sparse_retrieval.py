"""Collections record their sparse (BM25) side's encoding and their own retrieval mode.

Collections from before have neither: no sparse side (a re-index gives them one) and the
server's default mode.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collections") as batch:
        batch.add_column(sa.Column("sparse_encoding", sa.String(100), nullable=True))
        batch.add_column(sa.Column("retrieval_mode", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("retrieval_mode")
        batch.drop_column("sparse_encoding")
