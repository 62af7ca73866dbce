"""The ingest pipeline: parse → chunk → embed → upsert, overlapped in three stages.

    parse thread ──(bounded queue)──▶ embed (caller's thread) ──(bounded queue)──▶ writer thread

Bounded queues give back-pressure: parsing never runs far ahead of embedding. Chunks from
several small documents share embedding batches. A document's new chunks are written
before its stale ones are deleted, so a failure at any point leaves the previous version
searchable, and deterministic point ids mean nothing is ever stored twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.errors import IngestError, RagserveError, UnsupportedFile
from ragserve.ingest.chunking import Chunk, chunk_document
from ragserve.ingest.discover import discover
from ragserve.ingest.document import ParsedDocument
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.parsing import ParseWorker, read_file
from ragserve.store.catalog import Catalog
from ragserve.store.metadata import CollectionRow, DocumentRow, DocumentStatus
from ragserve.store.vectors import ChunkPoint, document_id, point_id

#: Bump when parsing or chunking changes what a file turns into, so unchanged files re-index.
PIPELINE_VERSION = "1"


@dataclass(slots=True)
class FileOutcome:
    source: str
    status: Literal["ingested", "skipped", "failed"]
    chunks: int = 0
    tokens: int = 0
    reason: str | None = None


@dataclass(slots=True)
class IngestReport:
    collection: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def chunks(self) -> int:
        return sum(o.chunks for o in self.outcomes)

    @property
    def tokens(self) -> int:
        return sum(o.tokens for o in self.outcomes)


@dataclass(slots=True)
class _Prepared:
    row: DocumentRow
    document: ParsedDocument
    chunks: list[Chunk]
    vectors: Vectors | None = None


_DONE = object()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


class IngestPipeline:
    """Ingests files into one collection; ``on_outcome`` is called once per file."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        embedder: EmbeddingBackend,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.embedder = embedder
        self.on_outcome = on_outcome or (lambda _o: None)
        self.on_start = on_start or (lambda _n: None)
        self.limits = ParseLimits(
            max_file_bytes=int(settings.max_file_mb * 2**20),
            max_unpacked_bytes=int(settings.max_unpacked_mb * 2**20),
            max_text_chars=settings.max_text_chars,
        )
        self._signature = (
            f"{PIPELINE_VERSION}:{settings.chunk_tokens}:{settings.chunk_overlap}:"
            f"{embedder.model_id}"
        ).encode()

    def run(self, paths: list[Path], collection: str) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(collection)
        lock = threading.Lock()

        def record(outcome: FileOutcome) -> None:
            with lock:
                report.outcomes.append(outcome)
            self.on_outcome(outcome)

        found = discover(paths)
        coll = self.catalog.open(
            collection, self.embedder.model_id, self.embedder.dimension, create=True
        )
        self.on_start(len(found.files) + len(found.missing))
        for path in found.missing:
            record(FileOutcome(str(path), "failed", reason="no such file or directory"))
        for path in found.unsupported:
            reason = str(UnsupportedFile(path, f"unsupported type {path.suffix!r}").reason)
            report.outcomes.append(FileOutcome(_display(path), "skipped", reason=reason))

        parsed: queue.Queue[object] = queue.Queue(maxsize=8)
        to_write: queue.Queue[object] = queue.Queue(maxsize=4)
        parser = threading.Thread(
            target=self._parse_stage, args=(found.files, coll, parsed, record), daemon=True
        )
        writer = threading.Thread(
            target=self._write_stage, args=(coll, to_write, record), daemon=True
        )
        parser.start()
        writer.start()
        try:
            self._embed_stage(parsed, to_write, record)
        except BaseException:
            # Unblock the parse thread (it may be waiting on a full queue) before re-raising.
            while parser.is_alive():
                with contextlib.suppress(queue.Empty):
                    parsed.get(timeout=0.1)
            raise
        finally:
            to_write.put(_DONE)
            parser.join()
            writer.join()
        if report.count("ingested"):
            self.catalog.vectors.optimize(coll.vector_collection)
        report.seconds = time.perf_counter() - started
        return report

    # -- stage 1: read, hash, skip unchanged, parse in a child process, chunk -------------------
    def _parse_stage(
        self,
        files: list[Path],
        coll: CollectionRow,
        out: queue.Queue[object],
        record: Callable[[FileOutcome], None],
    ) -> None:
        worker = ParseWorker(self.settings.parse_timeout_s)
        try:
            for path in files:
                source = _display(path)
                doc_id = document_id(coll.name, str(path.resolve()))
                try:
                    data = read_file(path, self.limits.max_file_bytes)
                    digest = hashlib.sha256(self._signature + b"\0" + data).hexdigest()
                    previous = self.catalog.metadata.get_document(doc_id)
                    if (
                        previous is not None
                        and previous.content_hash == digest
                        and previous.status == DocumentStatus.ready.value
                    ):
                        record(FileOutcome(source, "skipped", previous.chunks, reason="unchanged"))
                        continue
                    document = worker.parse(path, data, self.limits)
                    chunks = chunk_document(
                        document,
                        self.embedder.tokenizer,
                        self.settings.chunk_tokens,
                        self.settings.chunk_overlap,
                    )
                except IngestError as exc:
                    self._fail(doc_id, coll.name, source, exc.reason, record)
                    continue
                except Exception as exc:  # a bug on one file must not stop the run
                    reason = f"unexpected error: {type(exc).__name__}: {exc}"
                    self._fail(doc_id, coll.name, source, reason, record)
                    continue
                row = DocumentRow(
                    id=doc_id,
                    collection=coll.name,
                    source=source,
                    title=document.title,
                    kind=document.kind,
                    content_hash=digest,
                    status=DocumentStatus.ready.value,
                    chunks=len(chunks),
                    pages=document.pages,
                    error=None,
                )
                out.put(_Prepared(row, document, chunks))
        finally:
            worker.close()
            out.put(_DONE)

    # -- stage 2: embed, batching chunks across documents -------------------------------------
    def _embed_stage(
        self,
        inbox: queue.Queue[object],
        out: queue.Queue[object],
        record: Callable[[FileOutcome], None],
    ) -> None:
        target = self.settings.embed_max_batch * 2
        finished = False
        while not finished:
            pending: list[_Prepared] = []
            item = inbox.get()
            while True:
                if item is _DONE:
                    finished = True
                    break
                assert isinstance(item, _Prepared)
                pending.append(item)
                if sum(len(p.chunks) for p in pending) >= target:
                    break
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
            if not pending:
                continue
            texts = [c.embedding_text() for p in pending for c in p.chunks]
            try:
                vectors = self.embedder.embed_passages(texts)
            except RagserveError as exc:
                for p in pending:
                    self._fail(p.row.id, p.row.collection, p.row.source, str(exc), record)
                continue
            offset = 0
            for p in pending:
                p.vectors = vectors[offset : offset + len(p.chunks)]
                offset += len(p.chunks)
                out.put(p)

    # -- stage 3: upsert new chunks, then drop stale ones, then mark ready -----------------------
    def _write_stage(
        self,
        coll: CollectionRow,
        inbox: queue.Queue[object],
        record: Callable[[FileOutcome], None],
    ) -> None:
        while (item := inbox.get()) is not _DONE:
            assert isinstance(item, _Prepared) and item.vectors is not None
            row, doc = item.row, item.document
            points = [
                ChunkPoint(
                    id=point_id(row.id, chunk.index),
                    vector=vector.tolist(),
                    payload={
                        "document_id": row.id,
                        "chunk_index": chunk.index,
                        "source": row.source,
                        "title": doc.title,
                        "kind": doc.kind,
                        "page": chunk.page,
                        "heading": list(chunk.heading_path),
                        "start": chunk.start,
                        "end": chunk.end,
                        "text": chunk.text,
                    },
                )
                for chunk, vector in zip(item.chunks, item.vectors, strict=True)
            ]
            try:
                for i in range(0, len(points), 256):
                    self.catalog.vectors.upsert(coll.vector_collection, points[i : i + 256])
                self.catalog.vectors.delete_document(coll.vector_collection, row.id, len(points))
                self.catalog.metadata.save_document(row)
            except Exception as exc:  # store failure: this document fails, the run goes on
                self._fail(row.id, coll.name, row.source, f"could not store chunks: {exc}", record)
                continue
            note = (
                f"text cut at {self.limits.max_text_chars} characters (RAGSERVE_MAX_TEXT_CHARS)"
                if doc.truncated
                else None
            )
            tokens = sum(c.tokens for c in item.chunks)
            record(FileOutcome(row.source, "ingested", len(points), tokens, reason=note))

    def _fail(
        self,
        doc_id: str,
        collection: str,
        source: str,
        reason: str,
        record: Callable[[FileOutcome], None],
    ) -> None:
        """Record a failure; a previously ready version stays ready and searchable."""
        previous = self.catalog.metadata.get_document(doc_id)
        if previous is not None and previous.status == DocumentStatus.ready.value:
            previous.error = reason
            self.catalog.metadata.save_document(previous)
        else:
            self.catalog.metadata.save_document(
                DocumentRow(
                    id=doc_id,
                    collection=collection,
                    source=source,
                    status=DocumentStatus.failed.value,
                    error=reason,
                    chunks=0,
                )
            )
        record(FileOutcome(source, "failed", reason=reason))
