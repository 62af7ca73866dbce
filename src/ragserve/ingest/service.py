"""The ingestion service: a durable, bounded queue in front of the ingest pipeline.

    submit ─▶ SQL rows (queued) + file kept under data_dir/uploads ─▶ in-memory queue
           ─▶ IngestPipeline.process (parse ×N ▶ embed ▶ write) ─▶ rows ready / failed

Every accepted document is a SQL row before the request returns, so a crash loses nothing:
on start, ``queued`` and ``indexing`` rows are queued again, and deterministic chunk ids make
the re-run overwrite instead of duplicate. The queue is bounded by ``ingest_queue_capacity``
documents; past it, ``submit`` raises ``Overloaded`` with a Retry-After estimated from the
current rate, so clients back off instead of hanging.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import Metric

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import (
    CollectionBusy,
    CollectionNotFound,
    Forbidden,
    NotFound,
    Overloaded,
    RequestTooLarge,
)
from ragserve.ingest.discover import discover
from ragserve.ingest.pipeline import FileOutcome, IngestItem, IngestPipeline, PipelineHooks
from ragserve.store.catalog import Catalog
from ragserve.store.tables import CollectionRow, DocumentStatus, JobItemRow, JobRow, utcnow
from ragserve.store.vectors import document_id

log = logging.getLogger(__name__)

RATE_WINDOW_S = 30.0
#: The ``error`` of a document whose indexing was cancelled (its status is ``failed``).
CANCELLED = "cancelled"
_PENDING = {DocumentStatus.queued.value, DocumentStatus.indexing.value}


@dataclass(frozen=True, slots=True)
class StagedFile:
    """An uploaded file already written to disk, or the reason it was refused."""

    name: str
    path: Path | None
    rejected: str | None = None


@dataclass(frozen=True, slots=True)
class IngestStatus:
    queued: int
    indexing: int
    capacity: int
    accepting: bool
    docs_per_s: float
    chunks_per_s: float
    parallel: int
    embed_rate_limit: float | None

    @property
    def in_flight(self) -> int:
        return self.queued + self.indexing

    @property
    def queue_fraction(self) -> float:
        return self.in_flight / self.capacity


class IngestService(PipelineHooks):
    """Owns ingestion for one server process; start it once, stop it on shutdown."""

    def __init__(self, settings: Settings, catalog: Catalog, embedder: EmbeddingBackend) -> None:
        self.settings = settings
        self.catalog = catalog
        self.embedder = embedder
        self.uploads = settings.resolved_uploads_dir
        self.incoming = self.uploads / ".incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.pipeline = IngestPipeline(
            settings,
            catalog,
            embedder,
            hooks=self,
            parallel=settings.ingest_parallel,
            embed_rate=settings.ingest_embed_rate,
        )
        self._lock = threading.Lock()
        self._queue: queue.Queue[IngestItem | None] = queue.Queue()
        self._pending: dict[str, IngestItem] = {}
        self._indexing: set[str] = set()
        self._requeue: set[str] = set()
        self._cancelled: set[str] = set()
        self._finished: deque[tuple[float, int]] = deque()
        self._chunks: deque[tuple[float, int]] = deque()
        self._touched: set[str] = set()
        #: Collections being re-indexed whole (api/serving/reindex.py): they take no new work.
        self._reindexing: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._optimizer: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Queue again whatever a previous process left queued or half done, then run."""
        resumed = 0
        for row in self.catalog.documents.pending():
            coll = self.catalog.collections.get(row.collection)
            if coll is None or not row.stored_path:
                self.catalog.set_document_state(
                    row.id, status=DocumentStatus.failed.value, error="lost its collection or file"
                )
                continue
            if row.status != DocumentStatus.queued.value:
                self.catalog.set_document_state(row.id, status=DocumentStatus.queued.value)
            self._enqueue(IngestItem(Path(row.stored_path), row.id, row.source, coll))
            resumed += 1
        if resumed:
            log.info("resuming %d queued document(s)", resumed)
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()
        self._optimizer = threading.Thread(target=self._optimize_when_idle, daemon=True)
        self._optimizer.start()

    def stop(self, grace_s: float) -> None:
        """Stop taking queued work; in-flight documents get ``grace_s`` to finish.

        Whatever does not finish stays queued in SQL and resumes on the next start.
        """
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=grace_s)
            if self._thread.is_alive():
                log.warning("ingestion still busy after %.0f s; it resumes on restart", grace_s)
        self._optimize_touched()

    def _run(self) -> None:
        self.pipeline.process(self._take, self._record)

    def _take(self) -> IngestItem | None:
        while True:
            if self._stopping.is_set():
                return None
            item = self._queue.get()
            if item is None or self._stopping.is_set():
                self._queue.put(None)  # wake the other parse threads too
                return None
            if item.document_id in self._pending:
                return item

    # -- pipeline hooks ---------------------------------------------------------------------------
    def wanted(self, document_id: str) -> bool:
        return document_id not in self._cancelled

    def begin(self, item: IngestItem) -> None:
        # Checked and written under the lock a cancel takes, so `indexing` never lands on a
        # document just cancelled (the next stage drops it).
        with self._lock:
            if item.document_id in self._cancelled:
                return
            self._indexing.add(item.document_id)
            self.catalog.set_document_state(
                item.document_id, status=DocumentStatus.indexing.value, progress=0.0
            )

    def embedded(self, chunks: int) -> None:
        with self._lock:
            self._chunks.append((time.monotonic(), chunks))

    def _record(self, outcome: FileOutcome) -> None:
        doc_id = outcome.document_id
        if doc_id is None:
            return
        with self._lock:
            cancelled = doc_id in self._cancelled
        if cancelled:
            self._settle_cancelled(doc_id)
        with self._lock:
            self._indexing.discard(doc_id)
            if doc_id in self._requeue:  # re-submitted while it was being indexed
                self._requeue.discard(doc_id)
                item = self._pending.get(doc_id)
                if item is not None:
                    self._queue.put(item)
                    return
            item = self._pending.pop(doc_id, None)
            self._finished.append((time.monotonic(), 1))
            if item is not None and outcome.status == "ingested":
                self._touched.add(item.collection.vector_collection)

    # -- submitting work --------------------------------------------------------------------------
    def submit_uploads(self, collection: str, files: Sequence[StagedFile]) -> str:
        """Queue uploaded files; returns the job id. Rejected files are recorded as failed."""
        if len(files) > self.settings.ingest_max_files:
            raise RequestTooLarge(
                f"{len(files)} files in one request; the limit is "
                f"{self.settings.ingest_max_files} (RAGSERVE_INGEST_MAX_FILES)"
            )
        coll = self._collection(collection)
        docs: list[tuple[StagedFile, str]] = [
            (f, document_id(coll.name, f"upload:{f.name}")) for f in files
        ]
        with self._lock:
            self._refuse_if_reindexing(coll.name)
            self._check_capacity(sum(1 for f, d in docs if f.rejected is None))
            items = []
            for staged, doc_id in docs:
                if staged.rejected is not None or staged.path is None:
                    continue
                dest = self.uploads / doc_id / staged.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.path, dest)
                items.append(IngestItem(dest, doc_id, staged.name, coll))
            rejected = [(f, d) for f, d in docs if f.rejected is not None]
            return self._add_job(coll, items, rejected)

    def submit_paths(self, collection: str, paths: Sequence[Path]) -> str:
        """Queue files and folders on the server; only under ``RAGSERVE_INGEST_ROOTS``."""
        roots = [r.resolve() for r in self.settings.ingest_roots]
        for path in paths:
            if not any(path.resolve().is_relative_to(root) for root in roots):
                raise Forbidden(
                    f"{path} is not under an allowed folder; set RAGSERVE_INGEST_ROOTS "
                    f"(now {[str(r) for r in roots]})"
                )
        found = discover(list(paths))
        if len(found.files) > self.settings.ingest_queue_capacity:
            raise RequestTooLarge(
                f"{len(found.files)} files is more than the whole queue holds "
                f"({self.settings.ingest_queue_capacity}); submit them in parts"
            )
        coll = self._collection(collection)
        with self._lock:
            self._refuse_if_reindexing(coll.name)
            self._check_capacity(len(found.files))
            items = [
                IngestItem(p, document_id(coll.name, str(p.resolve())), str(p.resolve()), coll)
                for p in found.files
            ]
            missing = [
                (
                    StagedFile(str(p), None, "no such file or directory"),
                    document_id(coll.name, str(p)),
                )
                for p in found.missing
            ]
            return self._add_job(coll, items, missing)

    def reindex(self, collection: str, doc_id: str) -> str:
        """Parse and embed a document again, even if its file did not change."""
        # Opened, not created: re-indexing in a collection that does not exist is a 404 and
        # must not leave an empty collection behind.
        coll = self.catalog.open(
            collection, self.embedder.model_id, self.embedder.dimension, create=False
        )
        row = self.catalog.documents.get(doc_id)
        if row is None or row.collection != coll.name:
            raise NotFound(f"document {doc_id!r} is not in collection {collection!r}")
        if not row.stored_path or not Path(row.stored_path).exists():
            raise NotFound(f"the file of document {row.source!r} is gone; upload it again")
        with self._lock:
            self._refuse_if_reindexing(coll.name)
            self._check_capacity(1)
            item = IngestItem(Path(row.stored_path), doc_id, row.source, coll, force=True)
            return self._add_job(coll, [item], [])

    def _add_job(
        self,
        coll: CollectionRow,
        items: list[IngestItem],
        rejected: list[tuple[StagedFile, str]],
    ) -> str:
        """Persist the job, its items and the queued documents, then queue them (lock held)."""
        job_id = self._persist_job(coll, items, rejected)
        for item in items:
            self._cancelled.discard(item.document_id)
            self._enqueue(item)
        return job_id

    def _persist_job(
        self,
        coll: CollectionRow,
        items: list[IngestItem],
        rejected: list[tuple[StagedFile, str]],
    ) -> str:
        """Write the job, its items and the queued documents in one transaction."""
        job = JobRow(id=str(uuid.uuid4()), collection=coll.name)
        job_items = [
            JobItemRow(job_id=job.id, document_id=i.document_id, source=i.source) for i in items
        ] + [
            JobItemRow(
                job_id=job.id,
                document_id=doc_id,
                source=f.name,
                status=DocumentStatus.failed.value,
                error=f.rejected,
            )
            for f, doc_id in rejected
        ]
        now = utcnow()
        documents = [
            {
                "id": i.document_id,
                "size_bytes": _size(i.path),
                "collection": coll.name,
                "source": i.source,
                "status": DocumentStatus.queued.value,
                "error": None,
                "stored_path": str(i.path),
                "job_id": job.id,
                "queued_at": now,
            }
            for i in items
        ]
        self.catalog.add_job(job, job_items, documents)
        return job.id

    def _enqueue(self, item: IngestItem) -> None:
        if item.document_id in self._indexing:
            self._requeue.add(item.document_id)
            self._pending[item.document_id] = item
            return
        already = item.document_id in self._pending
        self._pending[item.document_id] = item
        if not already:
            self._queue.put(item)

    def _check_capacity(self, new: int) -> None:
        """Raise ``Overloaded`` if ``new`` more documents would not fit (lock held)."""
        capacity = self.settings.ingest_queue_capacity
        in_flight = self._in_flight()
        if in_flight + new <= capacity:
            return
        if self._stopping.is_set():
            raise Overloaded("the server is shutting down", retry_after=10)
        excess = in_flight + new - capacity
        rate = self._documents_rate()
        retry = 5 if rate <= 0 else min(60, max(1, math.ceil(excess / rate)))
        raise Overloaded(
            f"ingestion queue is full ({in_flight} of {capacity} documents queued or "
            f"indexing); retry after {retry} s",
            retry_after=retry,
        )

    def _in_flight(self) -> int:
        """Documents queued or indexing now (lock held)."""
        return len(self._pending)

    def _documents_rate(self) -> float:
        """Documents finished per second, recently (sets Retry-After)."""
        return self._rate(self._finished)

    def _collection(self, name: str) -> CollectionRow:
        return self.catalog.open(name, self.embedder.model_id, self.embedder.dimension, create=True)

    # -- cancelling work -------------------------------------------------------------------------
    def cancel_document(self, collection: str, doc_id: str) -> bool:
        """Stop one queued or indexing document; False if it was neither (nothing to stop).

        It ends ``failed`` with the reason ``cancelled``, its chunks removed and its file
        kept, so re-index brings it back.
        """
        coll = self.catalog.collections.get(collection)
        if coll is None:
            raise CollectionNotFound(collection)
        row = self.catalog.documents.get(doc_id)
        if row is None or row.collection != collection:
            raise NotFound(f"document {doc_id!r} is not in collection {collection!r}")
        return self._cancel(coll, [doc_id]) == 1

    def cancel_job(self, job_id: str) -> int:
        """Stop every queued or indexing document of a job; returns how many were stopped.

        An item whose document a later job queued again is closed as cancelled in this job
        only (the later job goes on), so this job's counts always add up to done.
        """
        found = self.catalog.job_with_items(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}")
        job, items = found
        coll = self.catalog.collections.get(job.collection)
        open_items = [i for i in items if i.status in _PENDING]
        ours: list[str] = []
        with self.catalog.db.transaction():
            for item in open_items:
                row = self.catalog.documents.get(item.document_id)
                if coll is not None and row is not None and row.job_id == job_id:
                    ours.append(item.document_id)
                else:
                    self.catalog.job_items.record(
                        job_id, item.document_id, status=DocumentStatus.failed.value,
                        error=CANCELLED,
                    )  # fmt: skip
        return self._cancel(coll, ours) if coll is not None else 0

    def _cancel(self, coll: CollectionRow, doc_ids: Sequence[str]) -> int:
        stopped = 0
        # Under the write lock: a window being stored lands wholly before the chunks are
        # removed, and the writer checks `wanted` before the next one.
        with self.pipeline.write_lock:
            for doc_id in doc_ids:
                row = self.catalog.documents.get(doc_id)
                if row is None or row.status not in _PENDING:
                    continue
                self._drop_work(doc_id)
                self.catalog.vectors.delete_document(coll.vector_collection, doc_id)
                self._mark_cancelled(doc_id)
                stopped += 1
        return stopped

    def _drop_work(self, doc_id: str) -> None:
        """Forget a document's queued or running work: it was cancelled or deleted."""
        with self._lock:
            self._cancelled.add(doc_id)
            self._pending.pop(doc_id, None)
            self._requeue.discard(doc_id)

    def _mark_cancelled(self, doc_id: str) -> None:
        self.catalog.set_document_state(
            doc_id,
            status=DocumentStatus.failed.value,
            error=CANCELLED,
            chunks=0,
            indexed_hash=None,
        )

    def _settle_cancelled(self, doc_id: str) -> None:
        """A stage that was already past its check when the cancel came may have written
        ``indexing`` or ``ready`` over it: the cancel wins (its chunks are already gone)."""
        row = self.catalog.documents.get(doc_id)
        if row is not None and not (
            row.status == DocumentStatus.failed.value and row.error == CANCELLED
        ):
            self._mark_cancelled(doc_id)

    # -- removing work -----------------------------------------------------------------------------
    def delete_document(self, collection: str, doc_id: str) -> None:
        """Delete a document; if it is queued or indexing, its work is dropped."""
        row = self.catalog.documents.get(doc_id)
        coll = self.catalog.collections.get(collection)
        if coll is None:
            raise CollectionNotFound(collection)
        if row is None or row.collection != collection:
            raise NotFound(f"document {doc_id!r} is not in collection {collection!r}")
        with self._lock:
            self._refuse_if_reindexing(collection)
        with self.pipeline.write_lock:  # a concurrent write lands wholly before this
            self._drop_work(doc_id)
            self.catalog.vectors.delete_document(coll.vector_collection, doc_id)
            self.catalog.documents.delete(doc_id)
        shutil.rmtree(self.uploads / doc_id, ignore_errors=True)

    def delete_collection(self, name: str) -> None:
        """Delete a collection, dropping its queued work first."""
        with self._lock:
            self._refuse_if_reindexing(name)
        ids = [row.id for row in self.catalog.list_documents(name)]
        for doc_id in ids:
            self._drop_work(doc_id)
        with self.pipeline.write_lock:
            self.catalog.drop_collection(name)
        for doc_id in ids:
            shutil.rmtree(self.uploads / doc_id, ignore_errors=True)

    # -- whole-collection re-index -----------------------------------------------------------
    def hold_for_reindex(self, name: str) -> int:
        """Mark ``name`` as being re-indexed, so that it takes no new work until released:
        the new index is built from the documents as they are now, and anything added,
        re-indexed or deleted meanwhile would be lost or come back at the switch. Refused
        while documents of it are queued or indexing (they would land in the old index).
        Returns its number of documents."""
        with self._lock:
            self._refuse_if_reindexing(name)
            totals = self.catalog.documents.totals().get(name)
            by_status = totals[0] if totals else {}
            busy = sum(by_status.get(status, 0) for status in _PENDING)
            if busy:
                raise CollectionBusy(
                    f"collection {name!r} has {busy} document(s) queued or indexing; re-index "
                    "it once they are done"
                )
            self._reindexing.add(name)
            return sum(by_status.values())

    def release_reindex(self, name: str) -> None:
        with self._lock:
            self._reindexing.discard(name)

    def _refuse_if_reindexing(self, name: str) -> None:
        if name in self._reindexing:
            raise CollectionBusy(
                f"collection {name!r} is being re-indexed and takes no other work until it is "
                f"done; GET /api/collections/{name}/reindex says when"
            )

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> IngestStatus:
        with self._lock:
            # Counted as sets: a document deleted while indexing has left ``_pending`` but not
            # yet ``_indexing``, and must not make the queue count negative.
            indexing = len(self._indexing)
            return IngestStatus(
                queued=len(self._pending.keys() - self._indexing),
                indexing=indexing,
                capacity=self.settings.ingest_queue_capacity,
                accepting=not self._stopping.is_set()
                and len(self._pending) < self.settings.ingest_queue_capacity,
                docs_per_s=self._rate(self._finished),
                chunks_per_s=self._rate(self._chunks),
                parallel=self.settings.ingest_parallel,
                embed_rate_limit=self.settings.ingest_embed_rate,
            )

    def extra_metrics(self) -> Iterator[Metric]:
        """Metrics beyond :class:`IngestStatus` (the shared queue's); none here."""
        return iter(())

    def not_ready(self, collection: str) -> list[tuple[str, str]]:
        """(id, source) of the documents of ``collection`` that answers must not use yet."""
        with self._lock:
            return [
                (d, i.source) for d, i in self._pending.items() if i.collection.name == collection
            ]

    @staticmethod
    def _rate(events: deque[tuple[float, int]]) -> float:
        horizon = time.monotonic() - RATE_WINDOW_S
        while events and events[0][0] < horizon:
            events.popleft()
        if not events:
            return 0.0
        span = max(time.monotonic() - events[0][0], 1.0)
        return sum(n for _, n in events) / span

    # -- index maintenance ----------------------------------------------------------------------
    def _optimize_when_idle(self) -> None:
        """Build HNSW indexes once the queue has drained, off the request path."""
        while not self._stopping.wait(2.0):
            with self._lock:
                idle = not self._pending
            if idle:
                self._optimize_touched()

    def _optimize_touched(self) -> None:
        with self._lock:
            touched, self._touched = self._touched, set()
        for name in touched:
            try:
                self.catalog.vectors.optimize(name)
            except Exception:  # a collection deleted meanwhile; nothing to index
                log.debug("optimize %s failed", name, exc_info=True)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:  # gone already: the pipeline reports it
        return None
