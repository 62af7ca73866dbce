from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import AccessDep, Jobs
from ragserve.api.errors import raises
from ragserve.api.routes import JobIdPath
from ragserve.errors import Forbidden, NotFound
from ragserve.protocol import IngestStatusResponse, JobInfo

router = APIRouter(prefix="/api", tags=["ingestion"])


@router.get(
    "/jobs/{job_id:uuid}",
    response_model=JobInfo,
    responses=raises(RequestValidationError, NotFound),
)
def get_job(job_id: JobIdPath, jobs: Jobs, access: AccessDep) -> JobInfo:
    """An ingestion job: each document's status, chunk count and error (its starter's and
    its collection's editors')."""
    access.job(str(job_id))
    return jobs.get(str(job_id))


@router.post(
    "/jobs/{job_id:uuid}/cancel",
    response_model=JobInfo,
    responses=raises(RequestValidationError, NotFound, Forbidden),
)
def cancel_job(job_id: JobIdPath, jobs: Jobs, access: AccessDep) -> JobInfo:
    """Stop every queued or indexing document of the job; each ends `failed` with the error
    `cancelled` (finished ones stay as they are), so the job is `done` when this returns."""
    access.job(str(job_id), change=True)
    return jobs.cancel(str(job_id))


@router.get("/jobs", response_model=list[JobInfo], responses=raises(RequestValidationError))
def list_jobs(
    jobs: Jobs,
    access: AccessDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most jobs listed.")] = 20,
) -> list[JobInfo]:
    """The most recent jobs the caller may see, newest first."""
    return jobs.recent(limit, access.job_filter)


@router.get("/ingest/status", response_model=IngestStatusResponse, responses=raises(Forbidden))
def ingest_status(jobs: Jobs, access: AccessDep) -> IngestStatusResponse:
    """Queue size, capacity and rates: read this to throttle before meeting a 429.
    Needs a key with the `ingest` scope."""
    access.scope("ingest")
    return jobs.status()
