from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ragserve.api.deps import Documents, require_admin
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


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    openapi_extra=_UPLOAD_BODY,
    responses={413: {}, 415: {}, 429: {}},
)
async def upload_documents(name: str, request: Request, documents: Documents) -> JobInfo:
    """Upload one or many files (multipart field `files`); returns the ingestion job.

    Files are checked here (type sniffed from content, size, name) and indexed in the
    background: follow the job or the documents' status. A full queue answers 429 with
    Retry-After; nothing of a refused request is kept.
    """
    return await documents.upload(name, request)


@router.post(
    "/from-paths", status_code=202, response_model=JobInfo, dependencies=[Depends(require_admin)]
)
def ingest_paths(name: str, body: PathIngestRequest, documents: Documents) -> JobInfo:
    """Admin: index files or folders already on the server (under RAGSERVE_INGEST_ROOTS)."""
    return documents.ingest_paths(name, body.paths)


@router.get("", response_model=list[DocumentInfo])
def list_documents(
    name: str, documents: Documents, status: Annotated[DocStatus | None, Query()] = None
) -> list[DocumentInfo]:
    """Documents with their status: queued, indexing, ready, or failed with the reason."""
    return documents.in_collection(name, status)


@router.get("/{doc_id}", response_model=DocumentInfo)
def get_document(name: str, doc_id: str, documents: Documents) -> DocumentInfo:
    return documents.get(name, doc_id)


@router.delete("/{doc_id}", status_code=204)
def delete_document(name: str, doc_id: str, documents: Documents) -> Response:
    """Delete a document and its chunks; queued or in-flight work for it is dropped."""
    documents.delete(name, doc_id)
    return Response(status_code=204)


@router.post("/{doc_id}/reindex", status_code=202, response_model=JobInfo)
def reindex_document(name: str, doc_id: str, documents: Documents) -> JobInfo:
    """Parse and embed a document again from its stored file."""
    return documents.reindex(name, doc_id)
