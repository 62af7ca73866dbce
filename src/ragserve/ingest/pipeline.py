"""The ingest pipeline: parse → chunk → embed → upsert, overlapped in three stages.

    parse threads ──(bounded queue)──▶ embed (caller's thread) ──(bounded queue)──▶ writer

Bounded queues give back-pressure: parsing never runs far ahead of embedding. Chunks from
several small documents share embedding batches. A document's new chunks are written
before its stale ones are deleted, so a failure at any point leaves the previous version
searchable, and deterministic point ids mean nothing is ever stored twice. The CLI feeds it
a list of files; the ingestion service feeds it from its queue for as long as it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable
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
from ragserve.store.payload import ChunkPayload
from ragserve.store.tables import CollectionRow, DocumentStatus
from ragserve.store.vectors import ChunkPoint, document_id, point_id

#: Bump when parsing or chunking changes what a file turns into, so unchanged files re-index.
PIPELINE_VERSION = "1"


@dataclass(slots=True)
class FileOutcome:
    source: str
    status: Literal["ingested", "skipped", "failed", "cancelled"]
    chunks: int = 0
    tokens: int = 0
    reason: str | None = None
    document_id: str | None = None


@dataclass(frozen=True, slots=True)
class IngestItem:
    """One file to index as one document of one collection."""

    path: Path
    document_id: str
    source: str
    collection: CollectionRow
    force: bool = False


class PipelineHooks:
    """What the ingestion service watches; the CLI uses these defaults."""

    def wanted(self, document_id: str) -> bool:
        """False once a document was deleted or cancelled: its work is dropped."""
        return True

    def begin(self, item: IngestItem) -> None:
        """Called as a document starts parsing."""

    def embedded(self, chunks: int) -> None:
        """Called after each embedding batch (rates for the status endpoint)."""


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
    item: IngestItem
    document: ParsedDocument
    chunks: list[Chunk]
    digest: str
    vectors: Vectors | None = None


_DONE = object()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


class RateLimiter:
    """Spaces out work so that on average at most ``rate`` units pass per second."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, units: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now)
            self._next = start + units / self.rate
        if start > now:
            time.sleep(start - now)


class IngestPipeline:
    """Ingests files into collections; ``on_outcome`` is called once per file."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        embedder: EmbeddingBackend,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        on_start: Callable[[int], None] | None = None,
        hooks: PipelineHooks | None = None,
        parallel: int = 1,
        embed_rate: float | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.embedder = embedder
        self.on_outcome = on_outcome or (lambda _o: None)
        self.on_start = on_start or (lambda _n: None)
        self.hooks = hooks or PipelineHooks()
        self.parallel = parallel
        self.rate = RateLimiter(embed_rate)
        #: Held while a document's chunks are written and it is marked ready, so a deletion
        #: lands wholly before or wholly after.
        self.write_lock = threading.Lock()
        self.limits = ParseLimits(
            max_file_bytes=int(settings.max_file_mb * 2**20),
            max_unpacked_bytes=int(settings.max_unpacked_mb * 2**20),
            max_text_chars=settings.max_text_chars,
        )
        self._signature = (
            f"{PIPELINE_VERSION}:{settings.chunk_tokens}:{settings.chunk_overlap}:"
            f"{embedder.model_id}"
        ).encode()

    def digest(self, data: bytes) -> str:
        """What decides whether a file changed: its bytes plus how they would be indexed."""
        return hashlib.sha256(self._signature + b"\0" + data).hexdigest()

    def run(self, paths: list[Path], collection: str) -> IngestReport:
        """Ingest files and folders into ``collection`` (created if missing)."""
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
        items = [
            IngestItem(path, document_id(coll.name, str(path.resolve())), _display(path), coll)
            for path in found.files
        ]
        self.process(items, record)
        if report.count("ingested"):
            self.catalog.vectors.optimize(coll.vector_collection)
        report.seconds = time.perf_counter() - started
        return report

    def process(
        self,
        items: Iterable[IngestItem] | Callable[[], IngestItem | None],
        record: Callable[[FileOutcome], None],
    ) -> None:
        """Run every item through the stages; a callable source is read until it gives None."""
        if callable(items):
            take = items
        else:
            iterator = iter(items)
            take_lock = threading.Lock()

            def take() -> IngestItem | None:
                with take_lock:
                    return next(iterator, None)

        parsed: queue.Queue[object] = queue.Queue(maxsize=8)
        to_write: queue.Queue[object] = queue.Queue(maxsize=4)
        parsers = [
            threading.Thread(
                target=self._parse_stage,
                args=(take, parsed, record),
                daemon=True,
                name=f"parse-{i}",
            )
            for i in range(self.parallel)
        ]
        writer = threading.Thread(
            target=self._write_stage, args=(to_write, record), daemon=True, name="write"
        )
        for thread in parsers:
            thread.start()
        writer.start()
        try:
            self._embed_stage(parsed, to_write, record, producers=len(parsers))
        except BaseException:
            # Unblock the parse threads (they may wait on a full queue) before re-raising.
            while any(t.is_alive() for t in parsers):
                with contextlib.suppress(queue.Empty):
                    parsed.get(timeout=0.1)
            raise
        finally:
            to_write.put(_DONE)
            for thread in parsers:
                thread.join()
            writer.join()

    # -- stage 1: read, hash, skip unchanged, parse in a child process, chunk -------------------
    def _parse_stage(
        self,
        take: Callable[[], IngestItem | None],
        out: queue.Queue[object],
        record: Callable[[FileOutcome], None],
    ) -> None:
        worker = ParseWorker(self.settings.parse_timeout_s)
        try:
            while (item := take()) is not None:
                if not self.hooks.wanted(item.document_id):
                    record(FileOutcome(item.source, "cancelled", document_id=item.document_id))
                    continue
                self.hooks.begin(item)
                try:
                    data = read_file(item.path, self.limits.max_file_bytes)
                    digest = self.digest(data)
                    previous = self.catalog.documents.get(item.document_id)
                    if (
                        not item.force
                        and previous is not None
                        and previous.indexed_hash == digest
                        and previous.status != DocumentStatus.failed.value
                    ):
                        self.catalog.set_document_state(
                            item.document_id, status=DocumentStatus.ready.value, error=None
                        )
                        record(
                            FileOutcome(
                                item.source,
                                "skipped",
                                previous.chunks,
                                reason="unchanged",
                                document_id=item.document_id,
                            )
                        )
                        continue
                    document = worker.parse(item.path, data, self.limits)
                    chunks = chunk_document(
                        document,
                        self.embedder.tokenizer,
                        self.settings.chunk_tokens,
                        self.settings.chunk_overlap,
                    )
                except IngestError as exc:
                    self._fail(item, exc.reason, record)
                    continue
                except Exception as exc:  # a bug on one file must not stop the run
                    self._fail(item, f"unexpected error: {type(exc).__name__}: {exc}", record)
                    continue
                out.put(_Prepared(item, document, chunks, digest))
        finally:
            worker.close()
            out.put(_DONE)

    # -- stage 2: embed, batching chunks across documents -------------------------------------
    def _embed_stage(
        self,
        inbox: queue.Queue[object],
        out: queue.Queue[object],
        record: Callable[[FileOutcome], None],
        producers: int,
    ) -> None:
        target = self.settings.embed_max_batch * 2
        remaining = producers
        while remaining:
            pending: list[_Prepared] = []
            item = inbox.get()
            while True:
                if item is _DONE:
                    remaining -= 1
                    if not remaining:
                        break
                elif isinstance(item, _Prepared):
                    if self.hooks.wanted(item.item.document_id):
                        pending.append(item)
                    else:
                        record(_cancelled(item.item))
                if sum(len(p.chunks) for p in pending) >= target:
                    break
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
            if not pending:
                continue
            texts = [c.embedding_text() for p in pending for c in p.chunks]
            self.rate.acquire(len(texts))
            try:
                vectors = self.embedder.embed_passages(texts)
            except RagserveError as exc:
                for p in pending:
                    self._fail(p.item, str(exc), record)
                continue
            self.hooks.embedded(len(texts))
            offset = 0
            for p in pending:
                p.vectors = vectors[offset : offset + len(p.chunks)]
                offset += len(p.chunks)
                out.put(p)

    # -- stage 3: upsert new chunks, then drop stale ones, then mark ready -----------------------
    def _write_stage(
        self, inbox: queue.Queue[object], record: Callable[[FileOutcome], None]
    ) -> None:
        while (prepared := inbox.get()) is not _DONE:
            assert isinstance(prepared, _Prepared) and prepared.vectors is not None
            item, doc = prepared.item, prepared.document
            coll = item.collection
            points = [
                ChunkPoint(
                    id=point_id(item.document_id, chunk.index),
                    vector=vector.tolist(),
                    payload=ChunkPayload(
                        document_id=item.document_id,
                        chunk_index=chunk.index,
                        source=item.source,
                        title=doc.title,
                        kind=doc.kind,
                        page=chunk.page,
                        heading=tuple(chunk.heading_path),
                        start=chunk.start,
                        end=chunk.end,
                        text=chunk.text,
                    ),
                )
                for chunk, vector in zip(prepared.chunks, prepared.vectors, strict=True)
            ]
            note = (
                f"text cut at {self.limits.max_text_chars} characters (RAGSERVE_MAX_TEXT_CHARS)"
                if doc.truncated
                else None
            )
            with self.write_lock:
                if not self.hooks.wanted(item.document_id):
                    record(_cancelled(item))
                    continue
                try:
                    for i in range(0, len(points), 256):
                        self.catalog.vectors.upsert(coll.vector_collection, points[i : i + 256])
                    self.catalog.vectors.delete_document(
                        coll.vector_collection, item.document_id, len(points)
                    )
                    self.catalog.set_document_state(
                        item.document_id,
                        collection=coll.name,
                        source=item.source,
                        title=doc.title,
                        kind=doc.kind,
                        content_hash=prepared.digest,
                        indexed_hash=prepared.digest,
                        status=DocumentStatus.ready.value,
                        chunks=len(points),
                        pages=doc.pages,
                        error=note,
                    )
                except Exception as exc:  # store failure: this document fails, the run goes on
                    self._fail(item, f"could not store chunks: {exc}", record, intact=False)
                    continue
            tokens = sum(c.tokens for c in prepared.chunks)
            record(
                FileOutcome(
                    item.source, "ingested", len(points), tokens, note, document_id=item.document_id
                )
            )

    def _fail(
        self,
        item: IngestItem,
        reason: str,
        record: Callable[[FileOutcome], None],
        *,
        intact: bool = True,
    ) -> None:
        """Record a failure; a previously indexed version stays ready and searchable."""
        previous = self.catalog.documents.get(item.document_id)
        if intact and previous is not None and previous.indexed_hash:
            self.catalog.set_document_state(
                item.document_id,
                status=DocumentStatus.ready.value,
                error=f"the latest version failed, the previous one is kept: {reason}",
            )
        else:
            self.catalog.set_document_state(
                item.document_id,
                collection=item.collection.name,
                source=item.source,
                status=DocumentStatus.failed.value,
                error=reason,
                indexed_hash=None,
            )
        record(FileOutcome(item.source, "failed", reason=reason, document_id=item.document_id))


def _cancelled(item: IngestItem) -> FileOutcome:
    return FileOutcome(item.source, "cancelled", document_id=item.document_id)
