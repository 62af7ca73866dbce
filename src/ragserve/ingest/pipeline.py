"""The ingest pipeline: parse → chunk → embed → upsert, overlapped in three stages.

    parse threads ──(bounded queue)──▶ embed (caller's thread) ──(bounded queue)──▶ writer

Documents travel in windows of chunks, never whole: a parse thread cuts a document into
chunks lazily and sends them ``CHUNK_WINDOW`` at a time, the embed stage batches windows from
several documents together, and the writer stores a document ``WRITE_WINDOW`` chunks at a
time. The queues are bounded in windows, so memory stays flat however large one document
is; a document past ``RAGSERVE_INGEST_MAX_DOCUMENT_TOKENS`` is refused before any of it is
embedded.

A document is never half visible: one that fits in one write window is written only once
it is wholly embedded; a larger one is marked ``indexing`` (left out of answers) before its
first window is written. Either way it becomes ``ready`` only after all its chunks are
stored and its stale ones deleted. A failure before anything was written leaves the
previous version searchable; one after removes the half-written document. Deterministic
point ids mean nothing is ever stored twice. The CLI feeds the pipeline a list of files;
the ingestion service feeds it from its queue for as long as it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.embed.sparse import SparseVector, passage_vector
from ragserve.errors import (
    IngestError,
    RagserveError,
    StoreUnavailable,
    UnsupportedFile,
)
from ragserve.ingest.chunking import Chunk
from ragserve.ingest.discover import discover
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.parsing import (
    ChunkPlan,
    ChunkStream,
    ChunkWindow,
    ParsedHeader,
    ParseWorker,
    check_tokens,
    chunk_windows,
    header_of,
    read_file,
)
from ragserve.store.catalog import Catalog
from ragserve.store.payload import ChunkPayload
from ragserve.store.tables import CollectionRow, DocumentStatus
from ragserve.store.vectors import ChunkPoint, document_id, point_id

#: Bump when parsing or chunking changes what a file turns into, so unchanged files re-index.
PIPELINE_VERSION = "1"
#: Chunks a parse thread sends at a time; the parsed queue holds at most 8 such windows.
CHUNK_WINDOW = 64
#: Chunks the writer stores at a time; a document of at most this many is written at once.
WRITE_WINDOW = 1024

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FileOutcome:
    source: str
    #: ``retrying``: a retryable failure (a crashed parser) the queue will try again later.
    status: Literal["ingested", "skipped", "failed", "cancelled", "retrying"]
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

    def retry(self, item: IngestItem, reason: str) -> str | None:
        """A retryable failure (the parser crashed): None if it was scheduled to run again,
        else the reason to fail it with. The one-process queue fails it at once."""
        return reason

    def abandon(self, item: IngestItem, exc: Exception) -> None:
        """Recording a document's state failed before it reached the embedder (the database
        is down): this process cannot go on with it. Here the error stops this parse
        thread, as before; a worker hands the document back to the shared queue."""
        raise exc

    def stored(self, item: IngestItem, state: dict[str, Any]) -> None:
        """Every chunk is stored: mark the document ``ready`` with ``state``. A worker that
        hands its vectors to the API process sends this after them instead."""


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
class _Document:
    """One document on its way through the stages; its text stays with the parse thread."""

    item: IngestItem
    digest: str
    #: sha256 of the file's bytes alone: what a remote client compares to skip an upload.
    content_hash: str
    title: str | None
    kind: str
    pages: int | None
    truncated: bool
    #: Characters of the parsed text: progress is the last embedded chunk's end over it.
    text_chars: int = 0
    #: Set by any stage once the document failed or was cancelled: the others stop on it.
    closed: bool = False
    # The embed stage's chunks and vectors not yet sent to the writer.
    held_chunks: list[Chunk] = field(default_factory=list)
    held_vectors: list[Vectors] = field(default_factory=list)
    held_sparse: list[SparseVector | None] = field(default_factory=list)
    # The writer's progress.
    written: int = 0
    tokens: int = 0
    finished: bool = False


@dataclass(slots=True)
class _Window:
    """Consecutive chunks of one document, or how the document ended."""

    document: _Document
    chunks: list[Chunk]
    vectors: Vectors | None = None
    #: Keyword vectors cut in the parse child (None where not: the writer cuts them).
    sparse: Sequence[SparseVector | None] | None = None
    last: bool = False
    cancelled: bool = False
    #: The document failed here; earlier windows may already be stored.
    error: str | None = None


@dataclass(slots=True)
class _Batch:
    """Windows of several documents embedding together; ``texts`` counts their chunks."""

    windows: list[_Window]
    vectors: Future[Vectors]
    texts: int


_DONE = object()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


class Limiter(Protocol):
    """Spaces out embedding work (this process's :class:`RateLimiter`, or a shared one)."""

    def acquire(self, units: int) -> None: ...


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
        self.rate: Limiter = RateLimiter(embed_rate)
        self.embed_depth = settings.ingest_embed_depth
        #: Held while a document's chunks are written and it is marked ready, so a deletion
        #: lands wholly before or wholly after.
        self.write_lock = threading.Lock()
        self.limits = ParseLimits(
            max_file_bytes=int(settings.max_file_mb * 2**20),
            max_unpacked_bytes=int(settings.max_unpacked_mb * 2**20),
            max_text_chars=settings.max_text_chars,
        )
        self.plan = ChunkPlan(
            embedder.tokenizer,
            settings.chunk_tokens,
            settings.chunk_overlap,
            settings.ingest_max_document_tokens,
            CHUNK_WINDOW,
        )
        #: Whether the parse child processes chunk (else the parse threads do, as before).
        self.chunk_in_parser = settings.ingest_chunk_in_parser and self._tokenizer_travels()
        self._signature = (
            f"{PIPELINE_VERSION}:{settings.chunk_tokens}:{settings.chunk_overlap}:"
            f"{embedder.model_id}"
        ).encode()

    def _tokenizer_travels(self) -> bool:
        try:
            pickle.dumps(self.plan.tokenizer)
        except Exception as exc:  # a tokenizer bound to this process (a remote one, say)
            log.info("chunking in the ingesting process: its tokenizer cannot travel (%s)", exc)
            return False
        return True

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

        # Bounded in windows, not documents: a huge document cannot fill memory in a queue.
        parsed: queue.Queue[object] = queue.Queue(maxsize=8)  # of ≤ CHUNK_WINDOW chunks
        to_write: queue.Queue[object] = queue.Queue(maxsize=4)  # of ≤ WRITE_WINDOW chunks
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
        plan = self.plan if self.chunk_in_parser else None
        worker = ParseWorker(self.settings.parse_timeout_s, plan=plan)
        try:
            while (item := take()) is not None:
                try:
                    if not self.hooks.wanted(item.document_id):
                        record(FileOutcome(item.source, "cancelled",
                                           document_id=item.document_id))  # fmt: skip
                        continue
                    self.hooks.begin(item)
                    # One call per document, so its bytes and text are freed when it is done,
                    # not held while this thread waits for the next one.
                    self._parse_one(worker, item, out, record)
                except Exception as exc:  # the stores failed (the database went away, say)
                    self.hooks.abandon(item, exc)
        finally:
            worker.close()
            out.put(_DONE)

    def _parse_one(
        self,
        worker: ParseWorker,
        item: IngestItem,
        out: queue.Queue[object],
        record: Callable[[FileOutcome], None],
    ) -> None:
        try:
            data = read_file(item.path, self.limits.max_file_bytes)
            digest = self.digest(data)
            content_hash = hashlib.sha256(data).hexdigest()
            previous = self.catalog.documents.get(item.document_id)
            if (
                not item.force
                and previous is not None
                and previous.indexed_hash == digest
                and previous.status != DocumentStatus.failed.value
            ):
                # content_hash too: rows written before it held the plain hash get it here.
                self.catalog.set_document_state(
                    item.document_id,
                    status=DocumentStatus.ready.value,
                    error=None,
                    content_hash=content_hash,
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
                return
            header, windows = self._parse(worker, item, data)
            del data
        except IngestError as exc:
            reason: str | None = exc.reason
            if exc.retryable and (reason := self.hooks.retry(item, exc.reason)) is None:
                record(FileOutcome(item.source, "retrying", reason=exc.reason,
                                   document_id=item.document_id))  # fmt: skip
                return
            self._fail(item, reason or exc.reason, record)
            return
        except Exception as exc:  # a bug on one file must not stop the run
            self._fail(item, f"unexpected error: {type(exc).__name__}: {exc}", record)
            return
        doc = _Document(
            item,
            digest,
            content_hash,
            header.title,
            header.kind,
            header.pages,
            header.truncated,
            text_chars=header.text_chars,
        )
        # Closed on every way out: windows cut in a child stop it if left before the end.
        with contextlib.closing(windows):
            held: ChunkWindow | None = None
            sent = False
            try:
                for window in windows:
                    if held is not None:  # one window held back, to mark the last
                        if doc.closed:  # failed or cancelled downstream: stop cutting it
                            return
                        if not self.hooks.wanted(item.document_id):
                            out.put(_Window(doc, [], cancelled=True))
                            return
                        out.put(_Window(doc, held.chunks, sparse=held.sparse))
                        sent = True
                    held = window
            except IngestError as exc:  # the child crashed or stalled part way
                if not sent and exc.retryable:
                    # Nothing went downstream yet: a crash is retried as one in parsing is.
                    if (reason := self.hooks.retry(item, exc.reason)) is None:
                        record(FileOutcome(item.source, "retrying", reason=exc.reason,
                                           document_id=item.document_id))  # fmt: skip
                        return
                    self._fail(item, reason, record)
                    return
                out.put(_Window(doc, [], error=exc.reason))
                return
            except Exception as exc:  # a bug on one file must not stop the run
                out.put(_Window(doc, [], error=f"unexpected error: {type(exc).__name__}: {exc}"))
                return
            last = held or ChunkWindow([])
            out.put(_Window(doc, last.chunks, last=True, sparse=last.sparse))

    def _parse(
        self, worker: ParseWorker, item: IngestItem, data: bytes
    ) -> tuple[ParsedHeader, ChunkStream | Generator[ChunkWindow, None, None]]:
        """The document's header and its chunks in windows: cut in the child when it can,
        else parsed there and cut here (refused first when past the token limit; the
        writer then cuts the keyword vectors)."""
        if worker.plan is not None:
            sparse = bool(item.collection.sparse_encoding)
            return worker.parse_chunked(item.path, data, self.limits, sparse=sparse)
        parsed = worker.parse(item.path, data, self.limits)
        check_tokens(item.path, parsed, self.plan)
        return header_of(parsed), chunk_windows(parsed, self.plan)

    # -- stage 2: embed, batching chunks across documents -------------------------------------
    def _embed_stage(
        self,
        inbox: queue.Queue[object],
        out: queue.Queue[object],
        record: Callable[[FileOutcome], None],
        producers: int,
    ) -> None:
        """Gather windows into batches and keep up to ``embed_depth`` of them embedding at
        once (1 by default, measured best with the in-process embedders): with more, this
        thread cuts the next batch and hands finished ones to the writer while the model
        works. Batches are finished in the order they were started."""
        remaining = producers
        in_flight: deque[_Batch] = deque()
        with ThreadPoolExecutor(self.embed_depth, thread_name_prefix="embed") as pool:
            while remaining or in_flight:
                if (
                    not remaining
                    or len(in_flight) >= self.embed_depth
                    or (in_flight and in_flight[0].vectors.done())
                ):
                    self._finish_batch(in_flight.popleft(), out)
                    continue
                try:
                    # Never block on the parse threads while a batch is in flight: a
                    # document's last window may be in it with nothing coming behind it.
                    window = inbox.get(timeout=0.002) if in_flight else inbox.get()
                except queue.Empty:
                    continue
                batch, remaining = self._gather(window, inbox, out, remaining)
                if not batch:
                    continue
                texts = [c.embedding_text() for w in batch for c in w.chunks]
                if texts:
                    self.rate.acquire(len(texts))
                    embedding = pool.submit(self.embedder.embed_passages, texts)
                else:  # only last windows that came empty: nothing to embed
                    embedding = Future()
                    embedding.set_result(np.zeros((0, self.embedder.dimension), np.float32))
                in_flight.append(_Batch(batch, embedding, len(texts)))

    def _gather(
        self,
        window: object,
        inbox: queue.Queue[object],
        out: queue.Queue[object],
        remaining: int,
    ) -> tuple[list[_Window], int]:
        """From ``window`` on, take what the inbox holds now, up to two embedding batches'
        worth of chunks: the windows to embed, and the producers still running. Failed,
        cancelled and unwanted documents are ended here, on the way."""
        target = self.settings.embed_max_batch * 2
        batch: list[_Window] = []
        size = 0
        while True:
            if window is _DONE:
                remaining -= 1
                if not remaining:
                    break
            elif isinstance(window, _Window):
                doc = window.document
                if doc.closed:
                    pass  # already ended; its writer outcome is on its way
                elif window.error is not None or window.cancelled:
                    self._close(doc, out, window)
                elif not self.hooks.wanted(doc.item.document_id):
                    self._close(doc, out, _Window(doc, [], cancelled=True))
                else:
                    batch.append(window)
                    size += len(window.chunks)
            if size >= target:
                break
            try:
                window = inbox.get_nowait()
            except queue.Empty:
                break
        return batch, remaining

    def _finish_batch(self, batch: _Batch, out: queue.Queue[object]) -> None:
        """Wait for one batch's vectors and give each document its share; a document whose
        chunks reach a write window (or its end) goes to the writer."""
        try:
            vectors = batch.vectors.result()
        except RagserveError as exc:
            for w in batch.windows:
                if not w.document.closed:
                    self._close(w.document, out, _Window(w.document, [], error=str(exc)))
            return
        if batch.texts:
            self.hooks.embedded(batch.texts)
        offset = 0
        for w in batch.windows:
            doc = w.document
            if doc.closed:  # failed or cancelled since (or by an earlier window of this batch)
                offset += len(w.chunks)
                continue
            doc.held_chunks.extend(w.chunks)
            doc.held_vectors.append(vectors[offset : offset + len(w.chunks)])
            doc.held_sparse.extend(w.sparse or [None] * len(w.chunks))
            offset += len(w.chunks)
            if not w.last and w.chunks and doc.text_chars:
                # Embedding is the slow part: one small update per embedded window makes
                # the documents list's bar move, whichever process reads it.
                done = min(0.99, w.chunks[-1].end / doc.text_chars)
                self.catalog.documents.set_progress(doc.item.document_id, round(done, 3))
            if w.last or len(doc.held_chunks) >= WRITE_WINDOW:
                out.put(
                    _Window(
                        doc,
                        doc.held_chunks,
                        np.concatenate(doc.held_vectors),
                        sparse=doc.held_sparse,
                        last=w.last,
                    )
                )
                doc.held_chunks, doc.held_vectors, doc.held_sparse = [], [], []

    @staticmethod
    def _close(doc: _Document, out: queue.Queue[object], end: _Window) -> None:
        """Stop work on a document and tell the writer how it ended."""
        doc.closed = True
        doc.held_chunks, doc.held_vectors, doc.held_sparse = [], [], []
        out.put(end)

    # -- stage 3: upsert windows, then drop stale chunks, then mark ready ------------------------
    def _write_stage(
        self, inbox: queue.Queue[object], record: Callable[[FileOutcome], None]
    ) -> None:
        while (window := inbox.get()) is not _DONE:
            assert isinstance(window, _Window)
            doc = window.document
            if doc.finished:
                continue
            if window.error is not None:
                self._end_failed(doc, window.error, record)
                continue
            with self.write_lock:
                if window.cancelled or not self.hooks.wanted(doc.item.document_id):
                    doc.finished = doc.closed = True
                    record(_cancelled(doc.item))
                    continue
                failure: str | None = None
                away: StoreUnavailable | None = None
                try:
                    self._write(doc, window)
                except StoreUnavailable as exc:  # not the document's fault: it goes back
                    doc.closed = doc.finished = True
                    away = exc
                except Exception as exc:  # store failure: this document fails, the run goes on
                    doc.closed = True
                    failure = f"could not store chunks: {exc}"
            if away is not None:
                try:
                    self.hooks.abandon(doc.item, away)
                except Exception:  # nowhere to give it back to (one process): it fails
                    self._end_failed(doc, f"could not store chunks: {away}", record, stored=True)
            elif failure is not None:
                # The failed write may have landed in part: the previous version is not kept.
                self._end_failed(doc, failure, record, stored=True)
            elif window.last:
                doc.finished = True
                record(
                    FileOutcome(
                        doc.item.source,
                        "ingested",
                        doc.written,
                        doc.tokens,
                        self._note(doc),
                        document_id=doc.item.document_id,
                    )
                )

    def _write(self, doc: _Document, window: _Window) -> None:
        """Store one window (write lock held); after the last, drop stale chunks, mark ready."""
        item = doc.item
        coll = item.collection
        if doc.written == 0 and not window.last:
            # Written over several windows: keep answers off it until it is whole.
            self.catalog.set_document_state(
                item.document_id,
                collection=coll.name,
                source=item.source,
                status=DocumentStatus.indexing.value,
            )
        assert window.vectors is not None or not window.chunks
        for i in range(0, len(window.chunks), 256):
            chunks = window.chunks[i : i + 256]
            assert window.vectors is not None
            # The keyword side, only for collections that have one (their BM25 terms): cut
            # in the parse child where it could, else here.
            given = window.sparse[i : i + 256] if window.sparse else [None] * len(chunks)
            sparse = [
                (s if s is not None else passage_vector(c.embedding_text()))
                if coll.sparse_encoding
                else None
                for c, s in zip(chunks, given, strict=True)
            ]
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
                    sparse=terms,
                )
                for chunk, vector, terms in zip(
                    chunks, window.vectors[i : i + 256], sparse, strict=True
                )
            ]
            self.catalog.vectors.upsert(coll.vector_collection, points)
            doc.written += len(points)
            doc.tokens += sum(c.tokens for c in chunks)
        if not window.last:
            return
        self.catalog.vectors.delete_document(coll.vector_collection, item.document_id, doc.written)
        state: dict[str, Any] = {
            "collection": coll.name,
            "source": item.source,
            "title": doc.title,
            "kind": doc.kind,
            "content_hash": doc.content_hash,
            "indexed_hash": doc.digest,
            "status": DocumentStatus.ready.value,
            "chunks": doc.written,
            "progress": 1.0,
            "pages": doc.pages,
            "error": self._note(doc),
        }
        if type(self.hooks).stored is PipelineHooks.stored:
            self.catalog.set_document_state(item.document_id, **state)
        else:
            self.hooks.stored(item, state)

    def _note(self, doc: _Document) -> str | None:
        if not doc.truncated:
            return None
        return f"text cut at {self.limits.max_text_chars} characters (RAGSERVE_MAX_TEXT_CHARS)"

    def _end_failed(
        self,
        doc: _Document,
        reason: str,
        record: Callable[[FileOutcome], None],
        *,
        stored: bool = False,
    ) -> None:
        """Fail a document that reached the writer; a half-written one is removed."""
        doc.finished = doc.closed = True
        stored = stored or doc.written > 0
        if stored:
            # Its first chunks replaced the previous version's: neither is whole any more.
            with self.write_lock, contextlib.suppress(Exception):
                self.catalog.vectors.delete_document(
                    doc.item.collection.vector_collection, doc.item.document_id
                )
        self._fail(doc.item, reason, record, intact=not stored)

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
