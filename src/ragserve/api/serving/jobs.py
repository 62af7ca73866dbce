"""Ingestion jobs and the queue's status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ragserve.embed.request_merging import MergingEmbedder
from ragserve.errors import NotFound
from ragserve.ingest.service import IngestService
from ragserve.protocol import IngestStatusResponse, JobInfo, JobItem
from ragserve.store.catalog import Catalog
from ragserve.store.tables import DocumentStatus, JobItemRow, JobRow

#: Newest jobs searched for the ones a caller may see.
SCAN_FOR_VISIBLE = 1000
TERMINAL = {DocumentStatus.ready.value, DocumentStatus.failed.value}


def job_info(job: JobRow, items: list[JobItemRow]) -> JobInfo:
    return JobInfo(
        id=job.id,
        collection=job.collection,
        created_at=job.created_at,
        done=all(i.status in TERMINAL for i in items),
        counts=dict(Counter(i.status for i in items)),
        items=[
            JobItem(
                document_id=i.document_id,
                source=i.source,
                status=i.status,
                error=i.error,
                chunks=i.chunks,
            )
            for i in items
        ],
    )


class JobServing:
    def __init__(self, catalog: Catalog, ingest: IngestService, embedder: MergingEmbedder) -> None:
        self.catalog = catalog
        self.ingest = ingest
        self.embedder = embedder

    def get(self, job_id: str) -> JobInfo:
        found = self.catalog.job_with_items(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}")
        return job_info(*found)

    def cancel(self, job_id: str) -> JobInfo:
        """Stop every queued or indexing document of the job; returns the job after."""
        self.ingest.cancel_job(job_id)
        return self.get(job_id)

    def recent(self, limit: int, visible: Callable[[JobRow], bool] | None = None) -> list[JobInfo]:
        """The newest jobs; with ``visible``, the newest of those it lets through (looked
        for among at most ``SCAN_FOR_VISIBLE`` of the newest)."""
        if visible is None:
            return [job_info(job, items) for job, items in self.catalog.recent_jobs(limit)]
        found = self.catalog.recent_jobs(max(limit, SCAN_FOR_VISIBLE))
        return [job_info(job, items) for job, items in found if visible(job)][:limit]

    def status(self) -> IngestStatusResponse:
        status = self.ingest.status()
        return IngestStatusResponse(
            queued=status.queued,
            indexing=status.indexing,
            in_flight=status.in_flight,
            capacity=status.capacity,
            queue_fraction=round(status.queue_fraction, 4),
            accepting=status.accepting,
            docs_per_s=round(status.docs_per_s, 3),
            chunks_per_s=round(status.chunks_per_s, 3),
            parallel=status.parallel,
            embed_rate_limit=status.embed_rate_limit,
            embed_queue=self.embedder.queued,
            # Upload limits, so a client sizes its batches instead of learning them from 413s.
            max_files=self.ingest.settings.ingest_max_files,
            max_request_bytes=int(self.ingest.settings.max_request_mb * 2**20),
        )
