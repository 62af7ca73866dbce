from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile

from ragserve.api.deps import State, require_admin
from ragserve.api.views import document_info, job_info
from ragserve.errors import IngestError, NotFound, RequestTooLarge, TooLarge
from ragserve.ingest.service import StagedFile
from ragserve.ingest.uploads import checked_upload_name, safe_filename
from ragserve.protocol import DocStatus, DocumentInfo, JobInfo, PathIngestRequest

router = APIRouter(prefix="/api/collections/{name}/documents", tags=["documents"])

_UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            }
        }
    }
}


def _job(state: State, job_id: str) -> JobInfo:
    found = state.ingest.catalog.metadata.get_job(job_id)
    assert found is not None
    return job_info(*found)


def _stage(
    state: State, upload: UploadFile, max_bytes: int
) -> tuple[StagedFile, IngestError | None]:
    """Check one uploaded file and copy it next to the store; refusals are returned."""
    name = safe_filename(upload.filename)
    if upload.size is not None and upload.size > max_bytes:
        exc: IngestError = TooLarge(
            name,
            f"{upload.size / 2**20:.1f} MiB is over the {max_bytes / 2**20:g} MiB limit "
            "(RAGSERVE_MAX_FILE_MB)",
        )
        return StagedFile(name, None, exc.reason), exc
    upload.file.seek(0)
    head = upload.file.read(4096)
    try:
        name = checked_upload_name(upload.filename, head)
    except IngestError as exc:
        return StagedFile(name, None, exc.reason), exc
    upload.file.seek(0)
    temp = state.ingest.incoming / uuid.uuid4().hex
    with temp.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return StagedFile(name, temp), None


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    openapi_extra=_UPLOAD_BODY,
    responses={413: {}, 415: {}, 429: {}},
)
async def upload_documents(name: str, request: Request, state: State) -> JobInfo:
    """Upload one or many files (multipart field `files`); returns the ingestion job.

    Files are checked here (type sniffed from content, size, name) and indexed in the
    background: follow the job or the documents' status. A full queue answers 429 with
    Retry-After; nothing of a refused request is kept.
    """
    limit = state.settings.ingest_max_files
    async with request.form(max_files=limit * 10, max_fields=limit * 10) as form:
        uploads = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
        if not uploads:
            raise RequestTooLarge("no files: send them as multipart field `files`")
        if len(uploads) > limit:
            raise RequestTooLarge(
                f"{len(uploads)} files in one request; the limit is {limit} "
                "(RAGSERVE_INGEST_MAX_FILES)"
            )
        max_bytes = int(state.settings.max_file_mb * 2**20)
        staged = [await asyncio.to_thread(_stage, state, u, max_bytes) for u in uploads]
    refusals = [exc for _, exc in staged if exc is not None]
    if len(refusals) == len(staged):
        raise refusals[0]
    try:
        job_id = await asyncio.to_thread(state.ingest.submit_uploads, name, [s for s, _ in staged])
    finally:
        for s, _ in staged:  # anything not moved into the store (refused, or a 429)
            if s.path is not None:
                s.path.unlink(missing_ok=True)
    return await asyncio.to_thread(_job, state, job_id)


@router.post(
    "/from-paths", status_code=202, response_model=JobInfo, dependencies=[Depends(require_admin)]
)
def ingest_paths(name: str, body: PathIngestRequest, state: State) -> JobInfo:
    """Admin: index files or folders already on the server (under RAGSERVE_INGEST_ROOTS)."""
    job_id = state.ingest.submit_paths(name, [Path(p) for p in body.paths])
    return _job(state, job_id)


@router.get("", response_model=list[DocumentInfo])
def list_documents(
    name: str, state: State, status: Annotated[DocStatus | None, Query()] = None
) -> list[DocumentInfo]:
    """Documents with their status: queued, indexing, ready, or failed with the reason."""
    rows = state.ingest.catalog.documents(name)
    return [document_info(r) for r in rows if status is None or r.status == status]


@router.get("/{doc_id}", response_model=DocumentInfo)
def get_document(name: str, doc_id: str, state: State) -> DocumentInfo:
    row = state.ingest.catalog.metadata.get_document(doc_id)
    if row is None or row.collection != name:
        raise NotFound(f"document {doc_id!r} is not in collection {name!r}")
    return document_info(row)


@router.delete("/{doc_id}", status_code=204)
def delete_document(name: str, doc_id: str, state: State) -> Response:
    """Delete a document and its chunks; queued or in-flight work for it is dropped."""
    state.ingest.delete_document(name, doc_id)
    return Response(status_code=204)


@router.post("/{doc_id}/reindex", status_code=202, response_model=JobInfo)
def reindex_document(name: str, doc_id: str, state: State) -> JobInfo:
    """Parse and embed a document again from its stored file."""
    return _job(state, state.ingest.reindex(name, doc_id))
