"""``ragserve worker``: indexes documents taken from the shared queue.

    WorkQueue.take ─▶ SQL row ─▶ IngestPipeline (parse ×N ▶ embed ▶ write) ─▶ ack
         ▲ renew claims every redelivery_s / 3        │
         └─ heartbeat thread                          └─ Qdrant server, or the API (hand-back)

One pipeline per process with ``concurrency`` parse threads, so chunks of several documents
share embedding batches as in the API's own queue. A task is acknowledged after its document
is stored (or handed back); a worker killed before that leaves it pending in Redis, where
another worker claims it once ``redelivery_s`` passes without a renewal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ragserve.cluster.handback import HandBackStore
from ragserve.cluster.queue import Task, WorkQueue
from ragserve.cluster.ratelimit import SharedRateLimiter
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import ConfigError
from ragserve.ingest.pipeline import FileOutcome, IngestItem, IngestPipeline, PipelineHooks
from ragserve.store.catalog import Catalog
from ragserve.store.db import Database
from ragserve.store.tables import DocumentStatus
from ragserve.store.vectors import VectorStore

log = logging.getLogger(__name__)

_PENDING = {DocumentStatus.queued.value, DocumentStatus.indexing.value}


class WorkerMetrics:
    """What ``/metrics`` on the worker's port shows; queue gauges are read when scraped."""

    def __init__(self, queue: WorkQueue) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = Gauge(
            "ragserve_worker_in_flight", "Documents this worker is indexing now.",
            registry=self.registry,
        )  # fmt: skip
        self.documents = Counter(
            "ragserve_worker_documents", "Documents this worker finished, by outcome.",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.redeliveries = Counter(
            "ragserve_worker_redeliveries",
            "Documents this worker took over from a worker that stopped answering.",
            registry=self.registry,
        )
        depth = Gauge(
            "ragserve_queue_depth", "Documents waiting for a worker, by priority.",
            ["priority"], registry=self.registry,
        )  # fmt: skip
        for priority in ("urgent", "bulk"):
            depth.labels(priority).set_function(
                lambda p=priority: _or_nan(lambda: queue.depth()[p])  # type: ignore[misc]
            )
        Gauge(
            "ragserve_queue_dead_letters", "Documents parked after their last attempt.",
            registry=self.registry,
        ).set_function(lambda: _or_nan(queue.dead_letters))  # fmt: skip


def _or_nan(read: Any) -> float:
    try:
        return float(read())
    except RedisError:
        return float("nan")


class Worker(PipelineHooks):
    """Takes documents from the queue until :meth:`stop`; run :meth:`run` in one thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 2,
        embedder: EmbeddingBackend | None = None,
        consumer: str | None = None,
    ) -> None:
        if not settings.queue_url or not settings.database_url:
            raise ConfigError(
                "a worker needs RAGSERVE_QUEUE_URL (Redis) and RAGSERVE_DATABASE_URL (shared "
                'with the API); see README, "Scaling out ingestion"'
            )
        self.settings = settings
        self.concurrency = concurrency
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.queue = WorkQueue.from_url(
            settings.queue_url,
            redelivery_s=settings.queue_redelivery_s,
            max_attempts=settings.queue_max_attempts,
            backoff_s=settings.queue_retry_backoff_s,
        )
        self.stopping = threading.Event()
        self.db = Database.for_settings(settings)
        self.handback: HandBackStore | None = None
        vectors: VectorStore
        if settings.owns_vectors:
            self.handback = HandBackStore(self.queue.redis, self.queue.keys, stopping=self.stopping)
            vectors = self.handback
        else:
            from ragserve.store.qdrant import QdrantClientStore

            vectors = QdrantClientStore(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
        self.vectors = vectors
        self.catalog = Catalog(self.db, vectors, sparse_for_new=settings.sparse)
        self._own_embedder = embedder is None
        if embedder is None:
            from ragserve.embed.registry import build_embedder

            embedder = build_embedder(settings)
        self.embedder = embedder
        self.pipeline = IngestPipeline(settings, self.catalog, embedder, hooks=self,
                                       parallel=concurrency)  # fmt: skip
        self.pipeline.rate = SharedRateLimiter(
            self.queue.redis, f"{self.queue.keys.prefix}:embed-rate", settings.ingest_embed_rate
        )
        self.metrics = WorkerMetrics(self.queue)
        self._lock = threading.Lock()
        #: Last sign of life of the pipeline (a take, an embedding batch, an outcome). A
        #: worker whose pipeline is stuck stops renewing its claims, so others take them.
        self.active_at = time.monotonic()
        self.stall_s = max(10 * settings.queue_redelivery_s, 2 * settings.parse_timeout_s)
        self._held: dict[str, Task] = {}
        #: When each held document was queued: an upload of a new version changes it.
        self._queued_at: dict[str, str] = {}
        self._dead: dict[str, Task] = {}
        #: Why :meth:`run` ended without :meth:`stop`, if it did.
        self.error: Exception | None = None  # failed for good: dead-lettered when recorded

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Index documents until :meth:`stop`; returns once in-flight ones are done."""
        self.queue.ensure_groups()
        heartbeat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        heartbeat.start()
        log.info("worker %s taking documents (concurrency %d)", self.consumer, self.concurrency)
        try:
            self.pipeline.process(self._take, self._record)
        except Exception as exc:  # a stage died: exit, and what it held is redelivered
            log.exception("the worker's pipeline failed")
            self.error = exc
        finally:
            self.stopping.set()
            heartbeat.join(5)

    def stop(self) -> None:
        """Take no more documents; those in flight go on (``run`` returns when they end)."""
        self.stopping.set()

    def hand_back(self) -> int:
        """Give the documents still in flight back to the queue (after the grace period)."""
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for task in held:
            try:
                self.queue.requeue(task)
            except RedisError:  # they come back to another worker after redelivery_s
                log.warning("could not hand back %s; it is redelivered later", task.document_id)
        return len(held)

    def close(self) -> None:
        with self._lock:
            self._held.clear()
        with contextlib.suppress(RedisError):
            self.queue.unregister_worker(self.consumer)
        self.queue.close()
        self.vectors.close()
        if self._own_embedder:
            self.embedder.close()
        self.db.close()

    def _heartbeat(self) -> None:
        period = self.settings.queue_redelivery_s / 3
        while True:
            try:
                with self._lock:
                    held = list(self._held.values())
                if self.stalled:
                    log.error("no progress for %.0f s: not renewing %d claim(s)",
                              time.monotonic() - self.active_at, len(held))  # fmt: skip
                else:
                    self.queue.renew(self.consumer, held)
                self.queue.register_worker(
                    self.consumer, self.concurrency, self.settings.queue_redelivery_s
                )
            except RedisError as exc:
                log.warning("heartbeat: Redis unavailable (%s)", exc)
            if self.stopping.wait(period) and not self._held:
                return

    @property
    def stalled(self) -> bool:
        """Holding documents without any progress for ``stall_s``."""
        return bool(self._held) and time.monotonic() - self.active_at > self.stall_s

    # -- taking work ------------------------------------------------------------------------
    def _take(self) -> IngestItem | None:
        while not self.stopping.is_set():
            try:
                task = self.queue.take(self.consumer, block_s=1.0)
            except RedisError as exc:
                log.warning("queue unavailable (%s); retrying", exc)
                self.stopping.wait(1.0)
                continue
            if task is None:
                continue
            try:
                item = self._item(task)
            except Exception as exc:  # the database down, say: the task goes back
                log.warning("could not start %s (%s); it goes back to the queue",
                            task.document_id, exc)  # fmt: skip
                self._safely(lambda t=task: self.queue.requeue(t))
                self.stopping.wait(2.0)
                continue
            if item is not None:
                self.active_at = time.monotonic()
                return item
        return None

    def _item(self, task: Task) -> IngestItem | None:
        """The task's document, or None when there is nothing (more) to do for it."""
        doc_id = task.document_id
        if task.give_up is not None:  # claimed from dead workers, no attempt left
            row = self.catalog.documents.get(doc_id)
            if row is not None and row.status in _PENDING:
                self.catalog.set_document_state(
                    doc_id, status=DocumentStatus.failed.value, error=task.give_up,
                    indexed_hash=None,
                )  # fmt: skip
            self.queue.dead_letter(task, task.give_up)
            self.metrics.documents.labels("failed").inc()
            return None
        if task.redelivered:
            self.metrics.redeliveries.inc()
        row = self.catalog.documents.get(doc_id)
        coll = self.catalog.collections.get(row.collection) if row is not None else None
        if row is None or coll is None or row.status not in _PENDING:
            self.queue.ack(task)  # deleted, cancelled, or done by an earlier delivery
            return None
        if not row.stored_path or not Path(row.stored_path).exists():
            self.catalog.set_document_state(
                doc_id, status=DocumentStatus.failed.value, indexed_hash=None,
                error=f"its file is not in the shared uploads folder ({row.stored_path}); "
                "mount RAGSERVE_UPLOADS_DIR at the same path on the API and every worker",
            )  # fmt: skip
            self.queue.ack(task)
            return None
        with self._lock:
            if doc_id in self._held:  # a duplicate of what this worker indexes now
                duplicate = True
            else:
                duplicate = False
                self._held[doc_id] = task
        if duplicate:
            self.queue.ack(task, finished=False)
            return None
        self.metrics.in_flight.inc()
        self._queued_at[doc_id] = row.queued_at.isoformat() if row.queued_at else ""
        return IngestItem(Path(row.stored_path), doc_id, row.source, coll, force=task.force)

    # -- pipeline hooks ---------------------------------------------------------------------
    def wanted(self, document_id: str) -> bool:
        try:
            return not self.queue.is_cancelled(document_id)
        except RedisError:
            return True  # cannot tell: go on; the API drops what a cancel made unwanted

    def abandon(self, item: IngestItem, exc: Exception) -> None:
        log.warning("giving %s back to the queue: %s", item.document_id, exc)
        with self._lock:
            task = self._held.pop(item.document_id, None)
        if task is not None:
            self.metrics.in_flight.dec()
            self._safely(lambda: self.queue.requeue(task))
        self.stopping.wait(2.0)  # the database (or the disk) gets a moment to come back

    def begin(self, item: IngestItem) -> None:
        if self.handback is not None:
            self.handback.begin(item.document_id)
        self.catalog.set_document_state(
            item.document_id, status=DocumentStatus.indexing.value, progress=0.0
        )

    def embedded(self, chunks: int) -> None:
        self.active_at = time.monotonic()
        self._safely(lambda: self.queue.count("chunks", chunks))

    def retry(self, item: IngestItem, reason: str) -> str | None:
        with self._lock:
            task = self._held.get(item.document_id)
        if task is None:
            return reason
        if self.queue.retry_later(task):
            self.catalog.set_document_state(
                item.document_id, status=DocumentStatus.queued.value,
                error=f"attempt {task.attempt} of {self.settings.queue_max_attempts} failed, "
                f"retrying: {reason}",
            )  # fmt: skip
            with self._lock:
                self._held.pop(item.document_id, None)
            self.metrics.in_flight.dec()
            self.metrics.documents.labels("retried").inc()
            return None
        with self._lock:
            self._dead[item.document_id] = task
        return f"{reason} (on each of {task.attempt} attempts)"

    def stored(self, item: IngestItem, state: dict[str, Any]) -> None:
        taken = self._queued_at.get(item.document_id, "")
        if self.handback is not None:
            self.handback.stored(item.document_id, state, taken)
            return
        # Written to the Qdrant server directly: a cancel that came meanwhile wins.
        if not self.wanted(item.document_id):
            self.vectors.delete_document(item.collection.vector_collection, item.document_id)
            return
        row = self.catalog.documents.get(item.document_id)
        if row is not None and row.queued_at is not None and row.queued_at.isoformat() != taken:
            return  # uploaded again since this worker took it: the new version's task marks it
        self.catalog.set_document_state(item.document_id, **state)

    def _record(self, outcome: FileOutcome) -> None:
        doc_id = outcome.document_id
        self.active_at = time.monotonic()
        if doc_id is None or outcome.status == "retrying":
            return
        with self._lock:
            task = self._held.pop(doc_id, None)
            dead = self._dead.pop(doc_id, None)
            self._queued_at.pop(doc_id, None)
        if task is None:
            return  # handed back at shutdown
        self.metrics.in_flight.dec()
        self.metrics.documents.labels(outcome.status).inc()
        if dead is not None:
            self._safely(lambda: self.queue.dead_letter(task, outcome.reason or "failed"))
        else:
            # Handed back, a document stays tracked until the API has stored it (the API
            # untracks it then): SQL says `indexing` until that, and the reconciler must not
            # take that for lost work.
            handed_back = self.handback is not None and outcome.status == "ingested"
            self._safely(lambda: self.queue.ack(task, finished=not handed_back))
        self._safely(lambda: self.queue.count("documents", 1))

    def _safely(self, call: Any) -> None:
        try:
            call()
        except RedisError as exc:
            # Unacknowledged, the task is redelivered after redelivery_s: done twice, stored
            # once (deterministic ids; an unchanged file is skipped).
            log.warning("queue unavailable (%s)", exc)

    # -- health -----------------------------------------------------------------------------
    def healthy(self) -> tuple[bool, str]:
        if self.stalled:
            return False, f"stalled: no progress for {self.stall_s:.0f} s"
        try:
            self.queue.redis.ping()
        except RedisError as exc:
            return False, f"redis: {exc}"
        try:
            with self.db.session() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return False, f"database: {type(exc).__name__}"
        return True, "ok"


def serve_metrics(worker: Worker, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """``/metrics`` and ``/healthz`` on ``port``, in a thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status = generate_latest(worker.metrics.registry), 200
                kind = "text/plain; version=0.0.4"
            elif self.path == "/healthz":
                ok, why = worker.healthy()
                body, status, kind = why.encode(), 200 if ok else 503, "text/plain"
            else:
                body, status, kind = b"not found", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
