"""The shared queue's rules on a real Redis, without workers: priorities, capacity, retries,
dead workers' attempts, the reconciler, cancels and the cluster-wide embedding budget.

The API side runs on SQLite here (RAGSERVE_DATABASE_URL is a file URL): these rules live in
Redis and in SQL the same way whatever the database; PostgreSQL is exercised with workers in
test_workers.py and on its own in test_postgres.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ragserve.cluster import service as cluster_service
from ragserve.cluster.handback import HandBackStore
from ragserve.cluster.queue import Keys, WorkQueue
from ragserve.cluster.ratelimit import SharedRateLimiter
from ragserve.cluster.service import ClusterIngestService
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import Overloaded, StoreUnavailable
from ragserve.ingest.pipeline import FileOutcome, IngestItem, IngestPipeline, PipelineHooks
from ragserve.ingest.service import StagedFile
from ragserve.runtime import Runtime
from ragserve.store.catalog import Catalog
from ragserve.store.payload import ChunkPayload
from ragserve.store.vectors import ChunkPoint, point_id
from tests.services import RedisServer, free_port, redis_server


@pytest.fixture(scope="module")
def rds() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def service(
    tmp_path: Path, rds: RedisServer, embedder: EmbeddingBackend
) -> Iterator[ClusterIngestService]:
    redis.Redis.from_url(rds.url).flushall()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'meta.db'}",
        queue_url=rds.url,
        ingest_queue_capacity=5,
        queue_urgent_files=2,
    )
    with Runtime(settings, embedder=embedder) as runtime:
        ingest = runtime.ingest
        assert isinstance(ingest, ClusterIngestService)
        yield ingest  # never started: the test drives it and reads Redis itself


def _stage(service: ClusterIngestService, *names: str) -> list[StagedFile]:
    files = []
    for name in names:
        path = service.incoming / name
        path.write_text(f"{name} text")
        files.append(StagedFile(name, path))
    return files


def _queue(rds: RedisServer, **kwargs: float) -> WorkQueue:
    settings = {"redelivery_s": 60.0, "max_attempts": 3, "backoff_s": 0.0} | kwargs
    return WorkQueue(redis.Redis.from_url(rds.url), **settings)  # type: ignore[arg-type]


def test_a_few_uploaded_files_go_ahead_of_a_bulk_job_and_capacity_is_shared(
    service: ClusterIngestService, rds: RedisServer
) -> None:
    service.submit_uploads("c", _stage(service, "b1.txt", "b2.txt", "b3.txt"))  # bulk: > 2
    service.submit_uploads("c", _stage(service, "u1.txt"))  # urgent
    queue = _queue(rds)
    sources = {row.id: row.source for row in service.catalog.documents.pending()}
    taken = [queue.take("w1", block_s=0.1) for _ in range(4)]
    assert [sources[t.document_id] for t in taken if t] == ["u1.txt", "b1.txt", "b2.txt", "b3.txt"]
    # Status and capacity count SQL's queued and indexing rows, whoever holds them.
    status = service.status()
    assert (status.queued, status.capacity, status.accepting) == (4, 5, True)
    with pytest.raises(Overloaded) as refused:
        service.submit_uploads("c", _stage(service, "x.txt", "y.txt"))
    assert refused.value.retry_after >= 1


def test_the_reconciler_queues_again_what_redis_lost(
    service: ClusterIngestService, rds: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_service, "RECONCILE_GRACE_S", 0.0)
    service.submit_uploads("c", _stage(service, "a.txt", "b.txt"))
    assert service.reconcile() == 0  # nothing lost
    redis.Redis.from_url(rds.url).flushall()  # a restart without persistence
    assert service.reconcile() == 2
    queue = _queue(rds)
    again = {t.document_id for t in (queue.take("w", 0.1), queue.take("w", 0.1)) if t}
    assert again == {row.id for row in service.catalog.documents.pending()}


def test_a_document_lost_on_every_attempt_fails_instead_of_going_round_for_ever(
    service: ClusterIngestService, rds: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler re-queues a lost document as many times as it has attempts, then
    fails it with a reason; uploading it again starts the count afresh."""
    monkeypatch.setattr(cluster_service, "RECONCILE_GRACE_S", 0.0)
    r = redis.Redis.from_url(rds.url)
    service.submit_uploads("c", _stage(service, "a.txt"))
    (row,) = service.catalog.documents.pending()

    def lose() -> None:  # its work vanishes from Redis, the counts of re-queues stay
        r.srem(Keys().tracked, row.id)
        r.delete(*Keys().streams)
        r.delete(Keys().reconciler)  # the next pass may run at once

    limit = service.settings.queue_max_attempts
    for _ in range(limit):
        lose()
        assert service.reconcile() == 1
    lose()
    assert service.reconcile() == 0
    failed = service.catalog.documents.get(row.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and f"lost {limit + 1} times" in failed.error
    assert "upload it again" in failed.error

    service.submit_uploads("c", _stage(service, "a.txt"))
    assert service.catalog.documents.get(row.id).status == "queued"  # type: ignore[union-attr]
    lose()
    assert service.reconcile() == 1  # a fresh count


def test_cancel_and_delete_reach_the_queue_and_a_new_upload_lifts_a_cancel(
    service: ClusterIngestService, rds: RedisServer
) -> None:
    service.submit_uploads("c", _stage(service, "a.txt"))
    (row,) = service.catalog.documents.pending()
    queue = _queue(rds)
    assert service.cancel_document("c", row.id)
    assert queue.is_cancelled(row.id)
    assert service.catalog.documents.get(row.id).error == "cancelled"  # type: ignore[union-attr]
    service.submit_uploads("c", _stage(service, "a.txt"))
    assert not queue.is_cancelled(row.id)
    service.delete_document("c", row.id)  # a delete reaches workers the same way
    assert queue.is_cancelled(row.id)
    assert service.catalog.documents.get(row.id) is None


def test_a_dead_worker_s_task_moves_and_counts_as_an_attempt(rds: RedisServer) -> None:
    redis.Redis.from_url(rds.url).flushall()
    queue = _queue(rds, redelivery_s=0.2, max_attempts=2)
    queue.ensure_groups()
    queue.enqueue(["doc"], urgent=False)
    first = queue.take("dies", 0.1)
    assert first is not None and first.attempt == 1
    time.sleep(0.3)  # "dies" never renews nor acknowledges
    second = queue.take("takes-over", 0.1)
    assert second is not None and second.redelivered and second.attempt == 2
    assert second.give_up is None
    queue._next_claim = 0.0
    time.sleep(0.3)  # and this one dies too: no attempt left
    third = queue.take("third", 0.1)
    assert third is not None and third.give_up is not None
    assert "2 attempts" in third.give_up


def test_a_live_worker_keeps_its_task_by_renewing_it(rds: RedisServer) -> None:
    redis.Redis.from_url(rds.url).flushall()
    queue = _queue(rds, redelivery_s=0.3)
    queue.ensure_groups()
    queue.enqueue(["long"], urgent=True)
    task = queue.take("slow", 0.1)
    assert task is not None
    for _ in range(3):
        time.sleep(0.15)
        queue.renew("slow", [task])
    queue._next_claim = 0.0
    assert queue.take("other", 0.1) is None  # still held by the live worker


def test_retries_wait_their_backoff_then_dead_letter_after_the_last(rds: RedisServer) -> None:
    redis.Redis.from_url(rds.url).flushall()
    queue = _queue(rds, max_attempts=2, backoff_s=0.2)
    queue.ensure_groups()
    queue.enqueue(["poison"], urgent=True)
    task = queue.take("w", 0.1)
    assert task is not None and queue.retry_later(task)
    assert queue.delayed() == 1 and queue.take("w", 0.05) is None  # not before its backoff
    time.sleep(0.3)
    queue._next_promote = 0.0
    retried = queue.take("w", 0.1)
    assert retried is not None and retried.attempt == 2
    assert not queue.retry_later(retried)  # the budget is spent
    queue.dead_letter(retried, "the parser crashed (on each of 2 attempts)")
    assert queue.dead_letters() == 1 and queue.untracked(["poison"]) == ["poison"]


def test_the_embedding_rate_limit_is_one_budget_for_all_workers(rds: RedisServer) -> None:
    client = redis.Redis.from_url(rds.url)
    key = f"{Keys().prefix}:embed-rate-test"
    client.delete(key)
    one, other = (SharedRateLimiter(client, key, rate=100.0) for _ in range(2))
    assert one.book(100) == 0.0  # a full second's budget, taken now
    # Another worker's batch waits for the first one's second to pass.
    assert other.book(50) > 0.5


def test_a_version_uploaded_while_the_last_was_stored_is_not_marked_ready_by_it(
    service: ClusterIngestService,
) -> None:
    service.submit_uploads("c", _stage(service, "a.txt"))
    (row,) = service.catalog.documents.pending()
    assert service.applier is not None and row.queued_at is not None
    ready = json.dumps({"status": "ready", "chunks": 0}).encode()

    def stored(queued_at: str) -> dict[str, bytes]:
        return {"op": b"stored", "doc": row.id.encode(), "state": ready,
                "queued_at": queued_at.encode()}  # fmt: skip

    # A worker that took the previous upload hands its result back: not this version's.
    service.applier.apply(stored("2001-01-01T00:00:00+00:00"))
    assert service.catalog.documents.get(row.id).status == "queued"  # type: ignore[union-attr]
    service.applier.apply(stored(row.queued_at.isoformat()))
    assert service.catalog.documents.get(row.id).status == "ready"  # type: ignore[union-attr]


def test_a_document_whose_vectors_redis_lost_in_transit_is_queued_again_not_ready(
    service: ClusterIngestService, rds: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_service, "RECONCILE_GRACE_S", 0.0)
    service.submit_uploads("c", _stage(service, "a.txt"))
    (row,) = service.catalog.documents.pending()
    coll = service.catalog.collections.get("c")
    assert service.applier is not None and coll is not None and row.queued_at is not None
    applier, r = service.applier, redis.Redis.from_url(rds.url)
    sent = HandBackStore(r, Keys())
    dim = service.embedder.dimension
    points = [
        ChunkPoint(point_id(row.id, i), [1.0] * dim, ChunkPayload(row.id, i, "a.txt", f"t{i}"))
        for i in range(2)
    ]
    state = {"status": "ready", "chunks": 2}

    def status() -> str:
        doc = service.catalog.documents.get(row.id)
        assert doc is not None
        return doc.status

    def hand_back(lose_upsert: bool = False, read_twice: bool = False) -> None:
        """One worker run: its upsert (lost with Redis, if asked), then "stored"."""
        sent.upsert(coll.vector_collection, points)
        if lose_upsert:
            r.delete(Keys().vectors)  # Redis restarted empty
        sent.stored(row.id, state, row.queued_at.isoformat())  # type: ignore[union-attr]
        batch = [{k.decode(): v for k, v in f.items()} for _i, f in r.xrange(Keys().vectors)]
        if read_twice:  # applied, then read again (its acknowledgement failed): no loss
            applier.apply_batch(batch[:-1])
        applier.apply_batch(batch)
        r.delete(Keys().vectors)

    hand_back()
    assert status() == "ready"
    assert service.catalog.vectors.count(coll.vector_collection, row.id) == 2
    # A new version is queued; its run's upsert is lost, its "stored" arrives. The previous
    # version's two chunks are still in the store: a count of the store would pass.
    service.catalog.set_document_state(row.id, status="queued")
    hand_back(lose_upsert=True)
    assert status() == "queued"
    assert service.reconcile() == 1  # still pending, untracked: queued again
    hand_back(read_twice=True)  # the next delivery's messages all arrive
    assert status() == "ready"


def test_a_worker_stopping_while_redis_is_away_gives_its_document_back_not_failed(
    service: ClusterIngestService,
) -> None:
    """A worker's writes go through Redis; stopping during an outage must not fail the
    document (nothing is wrong with it): it is given back, still pending in SQL."""
    service.submit_uploads("c", _stage(service, "a.txt"))
    (row,) = service.catalog.documents.pending()
    coll = service.catalog.collections.get("c")
    assert coll is not None and row.stored_path
    stopping = threading.Event()
    stopping.set()
    nobody = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    catalog = Catalog(service.catalog.db, HandBackStore(nobody, Keys(), stopping=stopping))
    given_back: list[Exception] = []

    class Hooks(PipelineHooks):
        def abandon(self, item: IngestItem, exc: Exception) -> None:
            given_back.append(exc)

    outcomes: list[FileOutcome] = []
    pipeline = IngestPipeline(service.settings, catalog, service.embedder, hooks=Hooks())
    item = IngestItem(Path(row.stored_path), row.id, row.source, coll)
    pipeline.process([item], outcomes.append)
    assert [type(e) for e in given_back] == [StoreUnavailable]
    assert outcomes == []  # neither ingested nor failed
    doc = service.catalog.documents.get(row.id)
    assert doc is not None and doc.status in ("queued", "indexing")
