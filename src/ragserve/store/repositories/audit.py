"""The ``audit_log`` table: append-only, read newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ragserve.store.db import Database
from ragserve.store.tables import AuditRow


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        with self.db.session() as s:
            s.add(AuditRow(actor=actor, action=action, target=target, detail=detail))

    def page(self, limit: int, offset: int) -> list[AuditRow]:
        with self.db.session() as s:
            return list(
                s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit).offset(offset))
            )
