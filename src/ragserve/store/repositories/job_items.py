"""The ``job_items`` table: how each document of a job ended."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select, update

from ragserve.store.db import Database
from ragserve.store.tables import JobItemRow, utcnow


class JobItemRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_all(self, items: Sequence[JobItemRow]) -> None:
        with self.db.session() as s:
            s.add_all(items)

    def for_jobs(self, job_ids: Sequence[str]) -> dict[str, list[JobItemRow]]:
        """Each job's items in the order they were queued, in one query."""
        out: dict[str, list[JobItemRow]] = defaultdict(list)
        if not job_ids:
            return out
        with self.db.session() as s:
            rows = s.scalars(
                select(JobItemRow)
                .where(JobItemRow.job_id.in_(list(job_ids)))
                .order_by(JobItemRow.id)
            )
            for row in rows:
                out[row.job_id].append(row)
        return out

    def record(self, job_id: str, document_id: str, **values: object) -> None:
        """Set how one document of a job stands now (``status``, ``error``, ``chunks``)."""
        with self.db.session() as s:
            s.execute(
                update(JobItemRow)
                .where(JobItemRow.job_id == job_id, JobItemRow.document_id == document_id)
                .values(**values, updated_at=utcnow())
            )
