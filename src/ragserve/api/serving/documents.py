"""Documents of a collection: uploads, server-side paths, status, delete, re-index."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from starlette.datastructures import UploadFile
from starlette.requests import Request

from ragserve.api.serving.jobs import JobServing
from ragserve.config import Settings
from ragserve.errors import IngestError, InvalidRequest, NotFound, RequestTooLarge, TooLarge
from ragserve.ingest.loaders.text import is_binary
from ragserve.ingest.service import IngestService, StagedFile
from ragserve.ingest.uploads import checked_upload_name, safe_filename
from ragserve.protocol import DocStatus, DocumentInfo, DocumentSort, JobInfo
from ragserve.store.catalog import Catalog
from ragserve.store.repositories.documents import DocumentQuery
from ragserve.store.tables import DocumentRow


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
        content_hash=_bytes_hash(row),
        size_bytes=row.size_bytes,
        progress=row.progress,
    )


def _bytes_hash(row: DocumentRow) -> str | None:
    """sha256 of the indexed version's bytes; None while no version is indexed, and for rows
    indexed before the pipeline kept it apart (their content_hash is the indexed_hash)."""
    if not row.indexed_hash or row.content_hash == row.indexed_hash:
        return None
    return row.content_hash


@dataclass(frozen=True, slots=True)
class OriginalFile:
    """A stored original and how to send it: never as HTML, whatever it holds, so an
    uploaded page cannot run script in the server's origin."""

    path: Path
    filename: str
    media_type: str
    disposition: Literal["inline", "attachment"]


def original_file(path: Path, filename: str) -> OriginalFile:
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"%PDF-"):
        return OriginalFile(path, filename, "application/pdf", "inline")
    if not is_binary(head):  # text, Markdown, HTML, CSV...: shown as the text it is
        return OriginalFile(path, filename, "text/plain; charset=utf-8", "inline")
    return OriginalFile(path, filename, "application/octet-stream", "attachment")


class DocumentServing:
    def __init__(
        self, settings: Settings, catalog: Catalog, ingest: IngestService, jobs: JobServing
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.ingest = ingest
        self.jobs = jobs

    def _stage(self, upload: UploadFile, max_bytes: int) -> tuple[StagedFile, IngestError | None]:
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
        temp = self.ingest.incoming / uuid.uuid4().hex
        with temp.open("wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
        return StagedFile(name, temp), None

    async def upload(self, collection: str, request: Request) -> JobInfo:
        """Check the multipart field ``files`` and queue what passes; a full queue raises
        ``Overloaded`` and nothing of the request is kept."""
        limit = self.settings.ingest_max_files
        async with request.form(max_files=limit * 10, max_fields=limit * 10) as form:
            uploads = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
            if not uploads:
                raise InvalidRequest("no files: send them as multipart field `files`", "files")
            if len(uploads) > limit:
                raise RequestTooLarge(
                    f"{len(uploads)} files in one request; the limit is {limit} "
                    "(RAGSERVE_INGEST_MAX_FILES)"
                )
            max_bytes = int(self.settings.max_file_mb * 2**20)
            staged = [await asyncio.to_thread(self._stage, u, max_bytes) for u in uploads]
        refusals = [exc for _, exc in staged if exc is not None]
        if len(refusals) == len(staged):
            raise refusals[0]
        try:
            job_id = await asyncio.to_thread(
                self.ingest.submit_uploads, collection, [s for s, _ in staged]
            )
        finally:
            for s, _ in staged:  # anything not moved into the store (refused, or a 429)
                if s.path is not None:
                    s.path.unlink(missing_ok=True)
        return await asyncio.to_thread(self.jobs.get, job_id)

    def ingest_paths(self, collection: str, paths: list[str]) -> JobInfo:
        return self.jobs.get(self.ingest.submit_paths(collection, [Path(p) for p in paths]))

    def page(
        self,
        collection: str,
        *,
        status: DocStatus | None = None,
        name_contains: str | None = None,
        sort: DocumentSort = "name",
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[DocumentInfo], int]:
        """One page of the collection's documents (all of them without ``limit``) and how
        many match the filters in all."""
        query = DocumentQuery(status, name_contains, sort, limit, offset)
        rows, total = self.catalog.document_page(collection, query)
        return [document_info(r) for r in rows], total

    def get(self, collection: str, doc_id: str) -> DocumentInfo:
        return document_info(self._row(collection, doc_id))

    def _row(self, collection: str, doc_id: str) -> DocumentRow:
        row = self.catalog.documents.get(doc_id)
        if row is None or row.collection != collection:
            raise NotFound(f"document {doc_id!r} is not in collection {collection!r}")
        return row

    def original(self, collection: str, doc_id: str) -> OriginalFile:
        """The stored original file of a document, named as it was uploaded."""
        row = self._row(collection, doc_id)
        path = Path(row.stored_path) if row.stored_path else None
        try:
            if path is None:
                raise FileNotFoundError
            return original_file(path, Path(row.source).name)
        except OSError as exc:
            raise NotFound(f"the file of document {row.source!r} is gone; upload it again") from exc

    def cancel(self, collection: str, doc_id: str) -> DocumentInfo:
        """Stop a queued or indexing document; any other is returned as it is."""
        self.ingest.cancel_document(collection, doc_id)
        return self.get(collection, doc_id)

    def delete(self, collection: str, doc_id: str) -> None:
        """The document and its chunks; queued or in-flight work for it is dropped."""
        self.ingest.delete_document(collection, doc_id)

    def reindex(self, collection: str, doc_id: str) -> JobInfo:
        return self.jobs.get(self.ingest.reindex(collection, doc_id))
