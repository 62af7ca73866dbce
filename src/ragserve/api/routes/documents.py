from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import Documents, require_admin
from ragserve.api.errors import raises
from ragserve.api.routes import CollectionNamePath, DocumentIdPath
from ragserve.errors import (
    CollectionNotFound,
    EmbeddingMismatch,
    Forbidden,
    IngestError,
    InvalidRequest,
    NotFound,
    Overloaded,
    RequestTooLarge,
)
from ragserve.protocol import DocStatus, DocumentInfo, JobInfo, PathIngestRequest

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
    InvalidRequest,
    RequestTooLarge,
    IngestError,
    EmbeddingMismatch,
    Overloaded,
)


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    openapi_extra=_UPLOAD_BODY,
    responses=_UPLOAD_ERRORS,
)
async def upload_documents(
    name: CollectionNamePath, request: Request, documents: Documents
) -> JobInfo:
    """Upload one or many files (multipart field `files`); returns the ingestion job.

    Files are checked here (type sniffed from content, size, name) and indexed in the
    background: follow the job or the documents' status. A full queue answers 429 with
    Retry-After; nothing of a refused request is kept. The collection is created if missing.
    """
    return await documents.upload(name, request)


@router.post(
    "/from-paths",
    status_code=202,
    response_model=JobInfo,
    dependencies=[Depends(require_admin)],
    responses=raises(
        RequestValidationError, Forbidden, RequestTooLarge, EmbeddingMismatch, Overloaded
    ),
)
def ingest_paths(
    name: CollectionNamePath, body: PathIngestRequest, documents: Documents
) -> JobInfo:
    """Admin: index files or folders already on the server (under RAGSERVE_INGEST_ROOTS)."""
    return documents.ingest_paths(name, body.paths)


@router.get(
    "",
    response_model=list[DocumentInfo],
    responses=raises(RequestValidationError, CollectionNotFound),
)
def list_documents(
    name: CollectionNamePath,
    documents: Documents,
    status: Annotated[DocStatus | None, Query()] = None,
) -> list[DocumentInfo]:
    """Documents with their status: queued, indexing, ready, or failed with the reason."""
    return documents.in_collection(name, status)


@router.get(
    "/{doc_id:uuid}",
    response_model=DocumentInfo,
    responses=raises(RequestValidationError, NotFound),
)
def get_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents
) -> DocumentInfo:
    return documents.get(name, str(doc_id))


@router.delete(
    "/{doc_id:uuid}", status_code=204, responses=raises(RequestValidationError, NotFound)
)
def delete_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents
) -> Response:
    """Delete a document and its chunks; queued or in-flight work for it is dropped."""
    documents.delete(name, str(doc_id))
    return Response(status_code=204)


@router.post(
    "/{doc_id:uuid}/reindex",
    status_code=202,
    response_model=JobInfo,
    responses=raises(RequestValidationError, NotFound, EmbeddingMismatch, Overloaded),
)
def reindex_document(
    name: CollectionNamePath, doc_id: DocumentIdPath, documents: Documents
) -> JobInfo:
    """Parse and embed a document again from its stored file."""
    return documents.reindex(name, str(doc_id))
