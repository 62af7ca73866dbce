from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse

from ragserve.access.principal import Role
from ragserve.api.deps import AccessDep, DocumentEventsDep, Documents
from ragserve.api.errors import raises
from ragserve.api.routes import CollectionNamePath, DocumentIdPath, event_stream
from ragserve.errors import (
    CollectionBusy,
    CollectionNotFound,
    EmbeddingMismatch,
    Forbidden,
    IngestError,
    InvalidRequest,
    NotFound,
    Overloaded,
    RequestTooLarge,
)
from ragserve.protocol import DocStatus, DocumentInfo, DocumentSort, JobInfo, PathIngestRequest
from ragserve.sse import sse_response

router = APIRouter(prefix="/api/collections/{name}/documents", tags=["documents"])

# The form is read by the serving class (it bounds the parts it parses), so FastAPI cannot
# derive the body's schema from the signature: it is written here, as the handler reads it.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                            "description": "One part per file, each with a filename; at most "
                            "RAGSERVE_INGEST_MAX_FILES (100) per request.",
                        }
                    },
                    "required": ["files"],
                }
            }
        },
    }
}
# 429 is a full queue (with Retry-After); 413, 415 and 422 a file refused for its size, its type
# or its content when every file of the request was refused (else it is a failed job item).
_UPLOAD_ERRORS = raises(
    RequestValidationError,
    CollectionBusy,
    InvalidRequest,
    RequestTooLarge,
    IngestError,
    EmbeddingMismatch,
    Overloaded,
    Forbidden,
    CollectionNotFound,
)


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    openapi_extra=_UPLOAD_BODY,
    responses=_UPLOAD_ERRORS,
)
async def upload_documents(
    name: CollectionNamePath, request: Request, documents: Documents, access: AccessDep
) -> JobInfo:
    """Upload one or many files (multipart field `files`); returns the ingestion job.

    Files are checked here (type sniffed from content, size, name) and indexed in the
    background: follow the job or the documents' status. A full queue answers 429 with
    Retry-After; nothing of a refused request is kept. The collection is created if missing
    (owned by the caller); an existing one needs the editor role.
    """
    creates = await asyncio.to_thread(access.upload_target, name)
    job = await documents.upload(name, request)
    await asyncio.to_thread(access.claim, name if creates else None, job.id)
    return job


@router.post(
    "/from-paths",
    status_code=202,
    response_model=JobInfo,
    responses=raises(
        RequestValidationError,
        Forbidden,
        RequestTooLarge,
        EmbeddingMismatch,
        Overloaded,
        CollectionBusy,
    ),
)
def ingest_paths(
    name: CollectionNamePath, body: PathIngestRequest, documents: Documents, access: AccessDep
) -> JobInfo:
    """Admin: index files or folders already on the server (under RAGSERVE_INGEST_ROOTS)."""
    access.admin("required")
    job = documents.ingest_paths(name, body.paths)
    access.claim(job_id=job.id)
    return job


_TOTAL_COUNT = {
    "X-Total-Count": {
        "description": "Documents matching `status` and `q`, before `limit` and `offset`.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


@router.get(
    "",
    response_model=list[DocumentInfo],
    responses={
        200: {"description": "A page of documents", "headers": _TOTAL_COUNT},
        **raises(RequestValidationError, CollectionNotFound, Forbidden),
    },
)
def list_documents(
    name: CollectionNamePath,
    documents: Documents,
    response: Response,
    access: AccessDep,
    status: Annotated[DocStatus | None, Query()] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Only names containing this (any case).")
    ] = None,
    sort: Annotated[
        DocumentSort,
        Query(description="`name`, `updated` or `status`; a leading `-` reverses it."),
    ] = "name",
    limit: Annotated[
        int | None,
        Query(ge=1, le=1000, description="Page size; unset lists every match (old clients)."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Matches to skip.")] = 0,
) -> list[DocumentInfo]:
    """Documents with their status: queued, indexing, ready, or failed with the reason.

    Paged with `limit` and `offset`, sorted with `sort`, filtered with `status` and `q`; the
    `X-Total-Count` header counts every match. A cancelled document is `failed` with the
    error `cancelled`.
    """
    access.collection(name, Role.viewer)
    page, total = documents.page(
        name, status=status, name_contains=q, sort=sort, limit=limit, offset=offset
    )
    response.headers["X-Total-Count"] = str(total)
    return page


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: event_stream(
            "`document` (a DocumentInfo, with an `id`) for each queued or indexing document, "
            "then for each stored change, until nothing is queued or indexing",
            ["document"],
        ),
        **raises(RequestValidationError, CollectionNotFound, Forbidden),
    },
)
async def document_events(
    name: CollectionNamePath,
    request: Request,
    events: DocumentEventsDep,
    access: AccessDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Sent by a reconnecting EventSource: resume after that event.",
        ),
    ] = None,
) -> StreamingResponse:
    """Live document status, read from the stored state (polled server-side).

    Ends when the client leaves or nothing is queued or indexing; EventSource reconnects
    (after `retry`) with Last-Event-ID and misses nothing.
    """
    await asyncio.to_thread(access.collection, name, Role.viewer)
    events.check(name)
    return sse_response(events.stream(name, request.is_disconnected, last_event_id))


@router.get(
    "/{doc_id:uuid}",
    response_model=DocumentInfo,
    responses=raises(RequestValidationError, NotFound, Forbidden),
)
def get_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents, access: AccessDep
) -> DocumentInfo:
    access.collection(name, Role.viewer)
    return documents.get(name, str(doc_id))


_FILE_TYPES: dict[str, dict[str, Any]] = {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    "text/plain": {"schema": {"type": "string"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}


@router.get(
    "/{doc_id:uuid}/file",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The stored original: PDFs as `application/pdf`, text formats as "
            "`text/plain` (never HTML, so an uploaded page cannot run in this origin), other "
            "formats as an `application/octet-stream` attachment.",
            "content": _FILE_TYPES,
        },
        **raises(RequestValidationError, NotFound, Forbidden),
    },
)
def document_file(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents, access: AccessDep
) -> FileResponse:
    """The document's original file, as uploaded (what citations open)."""
    access.collection(name, Role.viewer)
    original = documents.original(name, str(doc_id))
    quoted = quote(original.filename, safe="")
    return FileResponse(
        original.path,
        media_type=original.media_type,
        headers={
            "Content-Disposition": f"{original.disposition}; filename*=UTF-8''{quoted}",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(
    "/{doc_id:uuid}/cancel",
    response_model=DocumentInfo,
    responses=raises(RequestValidationError, NotFound, Forbidden),
)
def cancel_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents, access: AccessDep
) -> DocumentInfo:
    """Stop a queued or indexing document: it ends `failed` with the error `cancelled`, its
    chunks removed and its file kept (re-index brings it back). Any other is returned as is."""
    access.collection(name, Role.editor)
    return documents.cancel(name, str(doc_id))


@router.delete(
    "/{doc_id:uuid}",
    status_code=204,
    responses=raises(RequestValidationError, NotFound, CollectionBusy, Forbidden),
)
def delete_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents, access: AccessDep
) -> Response:
    """Delete a document and its chunks; queued or in-flight work for it is dropped."""
    access.collection(name, Role.editor)
    documents.delete(name, str(doc_id))
    access.record("document.delete", f"{name}/{doc_id}")
    return Response(status_code=204)


@router.post(
    "/{doc_id:uuid}/reindex",
    status_code=202,
    response_model=JobInfo,
    responses=raises(
        RequestValidationError, NotFound, EmbeddingMismatch, Overloaded, CollectionBusy, Forbidden
    ),
)
def reindex_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents, access: AccessDep
) -> JobInfo:
    """Parse and embed a document again from its stored file."""
    access.collection(name, Role.editor)
    job = documents.reindex(name, str(doc_id))
    access.claim(job_id=job.id)
    return job
