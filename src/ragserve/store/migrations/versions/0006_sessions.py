"""Browser sessions after single sign-on, and sign-ins waiting for the provider's answer.

sessions: keyed by a SHA-256 of the cookie's random id (a stolen database dump opens no
session), with the user, a SHA-256 of the CSRF token, the ID token (the logout hint), the
absolute expiry and the last use (the idle timeout).
oidc_logins: keyed by a SHA-256 of the ``state`` sent to the provider, holding the nonce,
the PKCE verifier and where to land; each is used once and lives minutes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ragserve.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("id_token", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "oidc_logins",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("verifier", sa.String(128), nullable=False),
        sa.Column("return_to", sa.String(2000), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("oidc_logins")
    op.drop_table("sessions")
