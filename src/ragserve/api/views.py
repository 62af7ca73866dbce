"""Rows and service snapshots turned into wire models."""

from __future__ import annotations

from collections import Counter

from ragserve.ingest.service import IngestStatus
from ragserve.protocol import (
    CollectionInfo,
    DocumentInfo,
    IngestStatusResponse,
    JobInfo,
    JobItem,
)
from ragserve.store.metadata import CollectionRow, DocumentRow, JobItemRow, JobRow

TERMINAL = {"ready", "failed"}


def collection_info(row: CollectionRow, ready: int) -> CollectionInfo:
    return CollectionInfo(
        name=row.name,
        embedding_model=row.embed_model,
        dimension=row.dimension,
        documents_ready=ready,
        created_at=row.created_at,
    )


def document_info(row: DocumentRow) -> DocumentInfo:
    return DocumentInfo(
        id=row.id,
        collection=row.collection,
        source=row.source,
        status=row.status,
        error=row.error,
        chunks=row.chunks,
        pages=row.pages,
        title=row.title,
        kind=row.kind,
        updated_at=row.updated_at,
    )


def job_info(job: JobRow, items: list[JobItemRow]) -> JobInfo:
    counts = Counter(i.status for i in items)
    return JobInfo(
        id=job.id,
        collection=job.collection,
        created_at=job.created_at,
        done=all(i.status in TERMINAL for i in items),
        counts=dict(counts),
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


def status_info(status: IngestStatus, embed_queue: int) -> IngestStatusResponse:
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
        embed_queue=embed_queue,
    )
