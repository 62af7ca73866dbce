from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import Jobs
from ragserve.protocol import IngestStatusResponse, JobInfo

router = APIRouter(prefix="/api", tags=["ingestion"])


@router.get("/jobs/{job_id}", response_model=JobInfo)
def get_job(job_id: str, jobs: Jobs) -> JobInfo:
    """An ingestion job: each document's status, chunk count and error."""
    return jobs.get(job_id)


@router.get("/jobs", response_model=list[JobInfo])
def list_jobs(jobs: Jobs, limit: int = 20) -> list[JobInfo]:
    """The most recent jobs, newest first."""
    return jobs.recent(limit)


@router.get("/ingest/status", response_model=IngestStatusResponse)
def ingest_status(jobs: Jobs) -> IngestStatusResponse:
    """Queue size, capacity and rates: read this to throttle before meeting a 429."""
    return jobs.status()
