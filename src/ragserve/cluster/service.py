"""The API's ingestion service when workers index: accept into SQL, queue in Redis.

    submit ─▶ SQL rows (queued) ─▶ WorkQueue.enqueue ─▶ workers
    reconciler (every queue_reconcile_s): SQL pending − Redis tracked ─▶ enqueue again
    applier (embedded store only): handed-back vectors ─▶ store ─▶ SQL ready

Status, capacity and the list of documents answers must skip come from SQL, the state every
API replica and worker shares; rates come from Redis counters all workers add to. Redis
being down does not refuse uploads: they are in SQL, and the reconciler queues them once
Redis answers again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from redis.exceptions import RedisError

from ragserve.cluster.handback import VectorApplier
from ragserve.cluster.queue import WorkQueue
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.ingest.pipeline import IngestItem
from ragserve.ingest.service import IngestService, IngestStatus, StagedFile
from ragserve.store.catalog import Catalog
from ragserve.store.tables import CollectionRow, DocumentStatus, utcnow

log = logging.getLogger(__name__)

#: Seconds a new submission may take from its SQL commit to its XADD.
RECONCILE_GRACE_S = 5.0


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes, PostgreSQL aware ones.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ClusterIngestService(IngestService):
    """:class:`IngestService` whose queue is Redis and whose indexing runs in workers."""

    def __init__(self, settings: Settings, catalog: Catalog, embedder: EmbeddingBackend) -> None:
        super().__init__(settings, catalog, embedder)
        assert settings.queue_url
        self.queue = WorkQueue.from_url(
            settings.queue_url,
            redelivery_s=settings.queue_redelivery_s,
            max_attempts=settings.queue_max_attempts,
            backoff_s=settings.queue_retry_backoff_s,
        )
        self.applier: VectorApplier | None = None
        if settings.owns_vectors:
            self.applier = VectorApplier(
                self.queue.redis, self.queue.keys, catalog, self.pipeline.write_lock,
                on_stored=self._stored,
            )  # fmt: skip
        self._reconciler: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the reconciler (its first pass queues what Redis lost) and the applier."""
        self._reconciler = threading.Thread(target=self._reconcile_loop, name="reconcile",
                                            daemon=True)  # fmt: skip
        self._reconciler.start()
        if self.applier is not None:
            self.applier.start()
        self._optimizer = threading.Thread(target=self._optimize_when_idle, daemon=True)
        self._optimizer.start()

    def stop(self, grace_s: float) -> None:
        self._stopping.set()
        if self.applier is not None:
            self.applier.stop(timeout=grace_s)
        if self._reconciler is not None:
            self._reconciler.join(timeout=5)
        self._optimize_touched()
        self.queue.close()

    def _stored(self, vector_collection: str) -> None:
        with self._lock:
            self._touched.add(vector_collection)

    # -- the reconciler -------------------------------------------------------------------------
    def _reconcile_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.reconcile()
            except RedisError as exc:
                log.warning("reconciler: Redis unavailable (%s)", exc)
            except Exception:  # the database down, say: try again next round
                log.exception("reconciler: pass failed")
            self._stopping.wait(self.settings.queue_reconcile_s)

    def reconcile(self) -> int:
        """Queue again every pending document Redis carries no work for; returns how many.
        One lost more times than ``queue_max_attempts`` allows re-queues fails instead."""
        self.queue.ensure_groups()
        # One API replica reconciles at a time (the lock expires if it dies).
        lock = self.queue.keys.reconciler
        # Held for most of a period, so this replica's next pass finds it expired.
        ttl_ms = max(100, int(self.settings.queue_reconcile_s * 800))
        if not self.queue.redis.set(lock, "1", nx=True, px=ttl_ms):
            return 0
        # Submissions younger than this may be between their SQL commit and their enqueue.
        settled = utcnow() - timedelta(seconds=RECONCILE_GRACE_S)
        pending = [
            row
            for row in self.catalog.documents.pending()
            if row.queued_at is None or _aware(row.queued_at) < settled
        ]
        untracked = self.queue.untracked([row.id for row in pending])
        # Read again: a document stored between the two reads is untracked but done.
        lost = {
            doc_id
            for doc_id in untracked
            if (row := self.catalog.documents.get(doc_id)) is not None
            and row.status in (DocumentStatus.queued.value, DocumentStatus.indexing.value)
        }
        if not lost:
            return 0
        ids = [row.id for row in pending if row.id in lost]
        limit = self.settings.queue_max_attempts
        again = []
        # A document lost on every attempt (its hand-back never arrives whole) would
        # otherwise go round for ever: after as many re-queues as it has attempts, it fails.
        for doc_id, times in zip(ids, self.queue.count_requeues(ids), strict=True):
            if times <= limit:
                again.append(doc_id)
                continue
            log.warning("reconciler: document %s was lost from the queue %d times; "
                        "marking it failed", doc_id, times)  # fmt: skip
            self.catalog.set_document_state(
                doc_id, status=DocumentStatus.failed.value, indexed_hash=None,
                error=f"its indexing was lost {times} times (Redis restarted, or a worker's "
                "results did not all arrive); upload it again to retry",
            )  # fmt: skip
        if again:
            log.warning("reconciler: %d accepted document(s) were not in the queue; "
                        "queueing them again", len(again))  # fmt: skip
            self.queue.enqueue(again, urgent=False)
        return len(again)

    # -- submitting -----------------------------------------------------------------------------
    def _add_job(
        self,
        coll: CollectionRow,
        items: list[IngestItem],
        rejected: list[tuple[StagedFile, str]],
    ) -> str:
        job_id = self._persist_job(coll, items, rejected)
        urgent = len(items) <= self.settings.queue_urgent_files
        try:
            self.queue.forget_requeues([i.document_id for i in items])
            for force in (False, True):
                ids = [i.document_id for i in items if i.force is force]
                self.queue.enqueue(ids, urgent=urgent, force=force)
        except RedisError as exc:
            # Accepted all the same: SQL has them, and the reconciler queues them later.
            log.warning("queue unavailable (%s); %d document(s) wait for the reconciler",
                        exc, len(items))  # fmt: skip
        return job_id

    # Capacity counts SQL's rows and the rate is every worker's: the API replicas and
    # workers share them (the check itself is IngestService's).
    def _in_flight(self) -> int:
        queued, indexing = self._pending_counts()
        return queued + indexing

    def _documents_rate(self) -> float:
        return self._shared_rate("documents")

    def _pending_counts(self) -> tuple[int, int]:
        """(queued, indexing) over every collection, from SQL."""
        counts = self.catalog.documents.count_by_status()
        return (
            counts.get(DocumentStatus.queued.value, 0),
            counts.get(DocumentStatus.indexing.value, 0),
        )

    def _drop_work(self, doc_id: str) -> None:
        super()._drop_work(doc_id)
        try:
            self.queue.cancel([doc_id])
        except RedisError as exc:  # its worker finds the SQL row cancelled or gone instead
            log.warning("could not tell workers of a cancel (%s)", exc)

    # -- status -------------------------------------------------------------------------------
    def _shared_rate(self, what: str) -> float:
        try:
            return self.queue.rate(what)
        except RedisError:
            return 0.0

    def status(self) -> IngestStatus:
        queued, indexing = self._pending_counts()
        try:
            parallel = sum(self.queue.workers().values())
        except RedisError:
            parallel = 0
        capacity = self.settings.ingest_queue_capacity
        return IngestStatus(
            queued=queued,
            indexing=indexing,
            capacity=capacity,
            accepting=not self._stopping.is_set() and queued + indexing < capacity,
            docs_per_s=self._shared_rate("documents"),
            chunks_per_s=self._shared_rate("chunks"),
            parallel=parallel,
            embed_rate_limit=self.settings.ingest_embed_rate,
        )

    def not_ready(self, collection: str) -> list[tuple[str, str]]:
        return [(row.id, row.source) for row in self.catalog.documents.not_ready(collection)]

    def extra_metrics(self) -> Iterator[Metric]:
        try:
            depth = self.queue.depth()
            dead = self.queue.dead_letters()
            workers = self.queue.workers()
        except RedisError:
            return
        family = GaugeMetricFamily(
            "ragserve_queue_depth", "Documents waiting for a worker, by priority.",
            labels=["priority"],
        )  # fmt: skip
        for priority, n in depth.items():
            family.add_metric([priority], n)
        yield family
        yield GaugeMetricFamily(
            "ragserve_queue_dead_letters", "Documents parked after their last attempt.",
            value=dead,
        )  # fmt: skip
        yield GaugeMetricFamily("ragserve_workers", "Live workers.", value=len(workers))
