"""Users, their API keys (hashes only), groups, collection members, owners and the audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("sso_subject", sa.String(500), nullable=True, unique=True),
        sa.Column("email", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            sa.Integer(),
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_index("ix_group_members_user_id", "group_members", ["user_id"])
    op.create_table(
        "collection_members",
        sa.Column(
            "collection",
            sa.String(200),
            sa.ForeignKey("collections.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("principal_type", sa.String(10), primary_key=True),
        sa.Column("principal", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False),
    )
    op.create_index(
        "ix_collection_members_principal", "collection_members", ["principal_type", "principal"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    # Plain ADD COLUMNs (no batch rebuild): rebuilding `collections` under SQLite's foreign
    # keys would cascade its DROP to every document.
    for table, column in (("collections", "owner_id"), ("jobs", "user_id"),
                          ("conversations", "user_id")):  # fmt: skip
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in (("collections", "owner_id"), ("jobs", "user_id"),
                          ("conversations", "user_id")):  # fmt: skip
        op.drop_index(f"ix_{table}_{column}", table)
        # A plain DROP COLUMN (SQLite 3.35+), again no rebuild that would cascade.
        op.drop_column(table, column)
    for name in ("audit_log", "collection_members", "group_members", "groups", "api_keys"):
        op.drop_table(name)
    op.drop_table("users")
