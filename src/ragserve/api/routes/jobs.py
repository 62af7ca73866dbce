from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import State
from ragserve.api.views import job_info, status_info
from ragserve.errors import NotFound
from ragserve.protocol import IngestStatusResponse, JobInfo

router = APIRouter(prefix="/api", tags=["ingestion"])


@router.get("/jobs/{job_id}", response_model=JobInfo)
def get_job(job_id: str, state: State) -> JobInfo:
    """An ingestion job: each document's status, chunk count and error."""
    found = state.ingest.catalog.metadata.get_job(job_id)
    if found is None:
        raise NotFound(f"no job {job_id!r}")
    return job_info(*found)


@router.get("/jobs", response_model=list[JobInfo])
def list_jobs(state: State, limit: int = 20) -> list[JobInfo]:
    """The most recent jobs, newest first."""
    metadata = state.ingest.catalog.metadata
    out = []
    for job in metadata.list_jobs(limit):
        found = metadata.get_job(job.id)
        if found is not None:
            out.append(job_info(*found))
    return out


@router.get("/ingest/status", response_model=IngestStatusResponse)
def ingest_status(state: State) -> IngestStatusResponse:
    """Queue size, capacity and rates: read this to throttle before meeting a 429."""
    return status_info(state.ingest.status(), state.embedder.queued)
