"""The ``jobs`` table: one row per ingestion request."""

from __future__ import annotations

from sqlalchemy import select

from ragserve.store.db import Database
from ragserve.store.tables import JobRow


class JobRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, job: JobRow) -> None:
        with self.db.session() as s:
            s.add(job)
            s.flush()  # items reference it within the same transaction

    def get(self, job_id: str) -> JobRow | None:
        with self.db.session() as s:
            return s.get(JobRow, job_id)

    def recent(self, limit: int = 50) -> list[JobRow]:
        """The newest jobs first."""
        with self.db.session() as s:
            return list(s.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)))
