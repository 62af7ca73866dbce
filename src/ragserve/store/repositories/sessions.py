"""The ``sessions`` and ``oidc_logins`` tables: browser sessions and sign-ins in flight.

Callers pass hashes, never the secrets themselves (``api/session.py`` hashes them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from ragserve.store.db import Database
from ragserve.store.tables import OidcLoginRow, SessionRow, utcnow


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: SessionRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def get(self, id_hash: str) -> SessionRow | None:
        with self.db.session() as s:
            return s.get(SessionRow, id_hash)

    def touch(self, id_hash: str, when: datetime) -> None:
        with self.db.session() as s:
            row = s.get(SessionRow, id_hash)
            if row is not None:
                row.last_seen_at = when

    def remove(self, id_hash: str) -> SessionRow | None:
        """Delete a session; the row it was (for the logout hint), or None."""
        with self.db.session() as s:
            row = s.get(SessionRow, id_hash)
            if row is not None:
                s.delete(row)
            return row

    def add_login(self, row: OidcLoginRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def take_login(self, state_hash: str) -> OidcLoginRow | None:
        """The pending sign-in for this state, deleted in the same step: a state works once."""
        with self.db.session() as s:
            row = s.get(OidcLoginRow, state_hash)
            if row is not None:
                s.delete(row)
            return row

    def purge_expired(self, idle_before: datetime) -> int:
        """Drop sessions past their expiry or idle since ``idle_before``, and stale sign-ins."""
        now = utcnow()
        with self.db.session() as s:
            gone = s.execute(  # type: ignore[attr-defined]  # a DML result has rowcount
                delete(SessionRow).where(
                    (SessionRow.expires_at < now) | (SessionRow.last_seen_at < idle_before)
                )
            ).rowcount
            s.execute(delete(OidcLoginRow).where(OidcLoginRow.expires_at < now))
            return int(gone or 0)
