"""One API and three `ragserve worker` processes on real Redis and real PostgreSQL.

Everything is real: Debian's redis-server and PostgreSQL (tests/services.py), the packaged
embedder in every worker, the embedded vector store in the API process (workers hand their
vectors back), the API on uvicorn. The one stand-in is the poison file's parser: a plugin,
installed in the workers only, that crashes the parse child on files starting with
"POISON" — no real file crashes a real parser on purpose, every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.runtime import Runtime
from tests.apiserver import running_app
from tests.plugin_package import write_distribution
from tests.services import PostgresServer, RedisServer, free_port, postgres_server, redis_server

POISON_PLUGIN = """
import os
import signal

from ragserve.ingest.loaders import Loader, register_loader
from ragserve.ingest.loaders.text import LOADER, load as load_text


def load(path, data, limits):
    if data.startswith(b"POISON"):
        os.kill(os.getpid(), signal.SIGSEGV)  # the parse child dies, every time
    return load_text(path, data, limits)


def register():
    register_loader(Loader(kind="text", suffixes=LOADER.suffixes, load=load))
"""


@dataclass
class Cluster:
    api: httpx.Client
    runtime: Runtime
    redis: RedisServer
    pg: PostgresServer
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]]
    metrics_ports: list[int]
    logs: Path

    def start_worker(self) -> None:
        port = free_port()
        with (self.logs / f"worker-{len(self.workers)}.log").open("wb") as log:
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ragserve", "worker", "--concurrency", "2",
                     "--metrics-port", str(port)],
                    env=self.env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        self.metrics_ports.append(port)

    def documents(self, collection: str) -> list[dict[str, object]]:
        response = self.api.get(f"/api/collections/{collection}/documents")
        assert response.status_code == 200, response.text
        docs: list[dict[str, object]] = response.json()
        return docs

    def wait_done(
        self, collection: str, count: int, timeout: float = 240
    ) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while True:
            docs = self.documents(collection)
            if len(docs) >= count and all(d["status"] in ("ready", "failed") for d in docs):
                return docs
            if time.monotonic() > deadline:
                states = {d["source"]: d["status"] for d in docs}
                raise AssertionError(f"not done after {timeout} s: {states}; logs in {self.logs}")
            time.sleep(0.5)

    def vectors(self, collection: str, doc_id: str | None = None) -> int:
        coll = self.runtime.catalog.collections.get(collection)
        assert coll is not None
        return self.runtime.catalog.vectors.count(coll.vector_collection, doc_id)

    def worker_counts(self, outcome: str) -> list[float]:
        counts = []
        for port in self.metrics_ports:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.TransportError:
                continue  # a worker this test killed
            line = f'ragserve_worker_documents_total{{outcome="{outcome}"}} '
            counts.append(
                sum(float(x[len(line) :]) for x in text.splitlines() if x.startswith(line))
            )
        return counts


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: EmbeddingBackend,
    llama_server: EmbeddedLlamaServer,
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    site = write_distribution(root / "site", "ragserve-poison", {"poison": "poison:register"},
                              {"poison": POISON_PLUGIN})  # fmt: skip
    with postgres_server() as pg, redis_server() as rds:
        database_url = pg.create_database("ragserve")
        shared = {
            "RAGSERVE_DATABASE_URL": database_url,
            "RAGSERVE_QUEUE_URL": rds.url,
            "RAGSERVE_UPLOADS_DIR": str(root / "shared-uploads"),
            "RAGSERVE_QUEUE_REDELIVERY_S": "3",
            "RAGSERVE_QUEUE_MAX_ATTEMPTS": "2",
            "RAGSERVE_QUEUE_RETRY_BACKOFF_S": "0.5",
            "RAGSERVE_QUEUE_RECONCILE_S": "1",
            "RAGSERVE_SHUTDOWN_GRACE_S": "5",
            # Short chunks: a big document has many windows at a third of the embedding cost.
            "RAGSERVE_CHUNK_TOKENS": "64",
            "RAGSERVE_CHUNK_OVERLAP": "8",
        }
        settings = Settings(
            data_dir=root / "api-data",
            llm_base_url=llama_server.base_url,
            llm_model=EMBEDDED_MODEL_ALIAS,
            ingest_max_files=200,
            **{k.removeprefix("RAGSERVE_").lower(): v for k, v in shared.items()},  # type: ignore[arg-type]
        )
        env = {
            **os.environ,
            **shared,
            "RAGSERVE_DATA_DIR": str(root / "worker-data"),
            # Three workers and the API share two cores: one embedding thread each.
            "RAGSERVE_EMBED_THREADS": "1",
            # Small embedding batches: a big document's progress, and the chances to notice
            # a cancel or die half way, come once per batch.
            "RAGSERVE_EMBED_MAX_BATCH": "16",
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        }
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as api:
            logs = root / "logs"
            logs.mkdir()
            c = Cluster(api, runtime, rds, pg, env, [], [], logs)
            for _ in range(3):
                c.start_worker()
            try:
                yield c
            finally:
                for worker in c.workers:
                    worker.kill()
                    worker.wait(10)
        runtime.close()


def _text(i: int, words: int = 12) -> bytes:
    # Distinct words per document, so no two chunks are the same text.
    return " ".join(f"doc{i} word{j} about topic {i * 7 + j}" for j in range(words)).encode()


def test_three_workers_index_200_documents_each_once_with_every_vector(cluster: Cluster) -> None:
    for start in (0, 100):
        files = [("files", (f"d{i:03}.txt", _text(i))) for i in range(start, start + 100)]
        response = cluster.api.post("/api/collections/many/documents", files=files)
        assert response.status_code == 202, response.text
    docs = cluster.wait_done("many", 200)
    assert [d["status"] for d in docs] == ["ready"] * 200
    for doc in docs:
        assert doc["chunks"] and cluster.vectors("many", str(doc["id"])) == doc["chunks"], doc
    assert cluster.vectors("many") == sum(int(str(d["chunks"])) for d in docs)
    # Indexed exactly once, and spread over the workers: each did part of it.
    per_worker = cluster.worker_counts("ingested")
    assert sum(per_worker) == 200, per_worker
    assert all(n > 0 for n in per_worker), per_worker
    status = cluster.api.get("/api/ingest/status").json()
    assert status["queued"] == 0 and status["indexing"] == 0


def _upload_big(cluster: Cluster, collection: str) -> None:
    big = _text(9999, words=3000)  # ~110 chunks of 64 tokens: two embedding windows
    files = [("files", ("big.txt", big))]
    response = cluster.api.post(f"/api/collections/{collection}/documents", files=files)
    assert response.status_code == 202


def _indexing_holder(cluster: Cluster, collection: str) -> tuple[dict[str, object], int]:
    """Wait until the collection's one document is being embedded; (it, its worker's pid)."""
    r = redis.Redis.from_url(cluster.redis.url)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        (doc,) = cluster.documents(collection) or [{}]
        if doc.get("status") == "indexing" and float(str(doc.get("progress") or 0)) > 0:
            for stream in (b"ragserve:ingest:urgent", b"ragserve:ingest:bulk"):
                for entry in r.xpending_range(stream, "workers", "-", "+", 10):
                    # Consumer names are host-pid-suffix (Worker.consumer).
                    return doc, int(entry["consumer"].decode().split("-")[-2])
        time.sleep(0.1)
    raise AssertionError(f"no worker was indexing {collection}")


def test_a_killed_worker_s_document_is_redelivered_and_ends_ready_once(cluster: Cluster) -> None:
    _upload_big(cluster, "kill")
    _doc, pid = _indexing_holder(cluster, "kill")
    os.kill(pid, signal.SIGKILL)  # two workers go on from here
    (doc,) = cluster.wait_done("kill", 1, timeout=240)
    assert doc["status"] == "ready", doc
    assert cluster.vectors("kill", str(doc["id"])) == doc["chunks"]
    assert redis.Redis.from_url(cluster.redis.url).xlen("ragserve:ingest:dead") == 0


def test_redis_restarted_empty_mid_run_loses_nothing(cluster: Cluster) -> None:
    files = [("files", (f"r{i:02}.txt", _text(1000 + i, words=100))) for i in range(40)]
    assert cluster.api.post("/api/collections/restart/documents", files=files).status_code == 202
    time.sleep(0.5)
    ready_before = sum(d["status"] == "ready" for d in cluster.documents("restart"))
    cluster.redis.restart()  # no persistence: every stream, claim and set is gone
    assert ready_before < 40, "all were done before the restart: the test showed nothing"
    docs = cluster.wait_done("restart", 40)
    assert [(d["source"], d["status"], d["error"]) for d in docs if d["status"] != "ready"] == []
    for doc in docs:
        assert cluster.vectors("restart", str(doc["id"])) == doc["chunks"]


def test_a_poison_document_fails_after_its_attempts_without_blocking_the_queue(
    cluster: Cluster,
) -> None:
    files = [("files", ("poison.txt", b"POISON " + _text(1)))] + [
        ("files", (f"ok{i}.txt", _text(2000 + i))) for i in range(5)
    ]
    assert cluster.api.post("/api/collections/poison/documents", files=files).status_code == 202
    docs = {d["source"]: d for d in cluster.wait_done("poison", 6)}
    poison = docs.pop("poison.txt")
    assert poison["status"] == "failed"
    assert "crashed" in str(poison["error"]) and "2 attempts" in str(poison["error"]), poison
    assert {d["status"] for d in docs.values()} == {"ready"}
    r = redis.Redis.from_url(cluster.redis.url)
    dead = r.xrange("ragserve:ingest:dead")
    assert [fields[b"doc"].decode() for _id, fields in dead] == [poison["id"]]
    # What the alert rules read, from a live worker and from the API.
    scrapes = [cluster.api.get("/metrics").text]
    for port in cluster.metrics_ports:
        try:
            scrapes.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        except httpx.TransportError:
            continue  # a worker an earlier test killed
    assert len(scrapes) >= 2
    for text in scrapes:
        assert "ragserve_queue_dead_letters 1.0" in text
        assert 'ragserve_queue_depth{priority="bulk"} 0.0' in text


def test_cancel_reaches_the_worker_indexing_the_document(cluster: Cluster) -> None:
    cancelled_before = sum(cluster.worker_counts("cancelled"))
    _upload_big(cluster, "cancel")
    doc, _pid = _indexing_holder(cluster, "cancel")
    response = cluster.api.post(f"/api/collections/cancel/documents/{doc['id']}/cancel")
    assert response.status_code == 200, response.text
    # The worker drops the document at its next window and says so in its metrics.
    deadline = time.monotonic() + 60
    while sum(cluster.worker_counts("cancelled")) == cancelled_before:
        assert time.monotonic() < deadline, "no worker dropped the cancelled document"
        time.sleep(0.2)
    time.sleep(1.0)  # what it handed back before the cancel has been applied (or dropped)
    (doc,) = cluster.documents("cancel")
    assert (doc["status"], doc["error"]) == ("failed", "cancelled")
    assert cluster.vectors("cancel", str(doc["id"])) == 0


def test_sigterm_lets_a_worker_finish_or_hand_back_and_exit_cleanly(cluster: Cluster) -> None:
    _upload_big(cluster, "term")
    _doc, pid = _indexing_holder(cluster, "term")
    (worker,) = [w for w in cluster.workers if w.pid == pid]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0  # RAGSERVE_SHUTDOWN_GRACE_S is 5; the last worker goes on
    (doc,) = cluster.wait_done("term", 1, timeout=240)
    assert doc["status"] == "ready", doc
    assert cluster.vectors("term", str(doc["id"])) == doc["chunks"]
