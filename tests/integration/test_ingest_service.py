"""The ingestion service under a crash and under overload: nothing accepted is lost.

The crash test runs ``ragserve serve`` as a separate process and kills it with SIGKILL in
the middle of a 200-document ingest.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app, wait_for_documents
from tests.conftest import ROOT
from tests.fakes.fault_server import running_fault_server

WORDS = (
    "invoice shipment warehouse forklift pallet customs tariff audit ledger payroll pension "
    "vacation laptop badge parking canteen printer firewall backup server contract supplier"
).split()


def _document(i: int, rng: random.Random) -> bytes:
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))) + "." for _ in range(3)
    ]
    return f"# Memo {i}\n\nThis is memo number {i}.\n\n".encode() + "\n\n".join(paragraphs).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ragserve", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during startup"
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


def _ready(client: httpx.Client) -> int:
    docs = client.get("/api/collections/crash/documents").json()
    return sum(1 for d in docs if d["status"] == "ready")


def test_sigkill_mid_ingest_then_restart_indexes_every_document_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    files = [(f"memo-{i:03d}.md", _document(i, rng)) for i in range(200)]
    data_dir = tmp_path / "data"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with running_fault_server() as (fault_url, _):
        env = {
            **os.environ,
            "RAGSERVE_DATA_DIR": str(data_dir),
            "RAGSERVE_LLM_BASE_URL": fault_url,
            "RAGSERVE_LLM_MODEL": "ok",
            "HF_HUB_OFFLINE": "1",
        }
        first = _serve(env, port, log)
        try:
            _wait_healthy(url, first)
            with httpx.Client(base_url=url, timeout=60) as client:
                for start in range(0, 200, 50):
                    batch = [("files", f) for f in files[start : start + 50]]
                    response = client.post("/api/collections/crash/documents", files=batch)
                    assert response.status_code == 202, response.text
                deadline = time.monotonic() + 120
                while (ready := _ready(client)) < 30:
                    assert time.monotonic() < deadline, "ingest did not start"
                    time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert ready < 200, "the kill came too late to interrupt anything"

        second = _serve(env, port, log)
        try:
            _wait_healthy(url, second)
            with httpx.Client(base_url=url, timeout=60) as client:
                docs = wait_for_documents(client, "crash", 200, timeout=300)
            second.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert second.wait(60) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in log.read_text()
        finally:
            if second.poll() is None:
                second.kill()

    assert len(docs) == 200
    assert sorted(d["source"] for d in docs) == [name for name, _ in files]
    assert {d["status"] for d in docs} == {"ready"}, log.read_text()[-3000:]
    # Every document's chunks are stored exactly once: no stale or doubled points.
    with Runtime(Settings(data_dir=data_dir)) as runtime:
        row = runtime.catalog.collections.get("crash")
        assert row is not None
        for doc in docs:
            stored = runtime.vectors.count(row.vector_collection, str(doc["id"]))
            assert stored == doc["chunks"] > 0, doc
        assert runtime.vectors.count(row.vector_collection) == sum(int(d["chunks"]) for d in docs)  # type: ignore[call-overload]


def test_flood_gets_429_with_retry_after_and_loses_no_accepted_work(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with running_fault_server() as (fault_url, _):
        settings = Settings(
            data_dir=tmp_path / "data",
            llm_base_url=fault_url,
            llm_model="ok",
            ingest_queue_capacity=5,
            ingest_embed_rate=10.0,
        )
        runtime = Runtime(settings, embedder=embedder)
        rng = random.Random(3)
        files = [(f"memo-{i:02d}.md", _document(i, rng)) for i in range(40)]
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=30) as c:

            def send(file: tuple[str, bytes]) -> httpx.Response:
                return c.post("/api/collections/flood/documents", files=[("files", file)])

            with ThreadPoolExecutor(16) as pool:
                responses = list(pool.map(send, files))
            accepted = {f[0] for f, r in zip(files, responses, strict=True) if r.status_code == 202}
            refused = [r for r in responses if r.status_code == 429]
            assert len(accepted) + len(refused) == len(files)
            assert len(accepted) >= 5 and refused
            for r in refused:
                assert int(r.headers["Retry-After"]) >= 1
                error = r.json()["error"]
                assert error["type"] == "overloaded_error" and error["code"] == "ingest_queue_full"
            status = c.get("/api/ingest/status").json()
            assert status["capacity"] == 5 and status["in_flight"] <= 5
            docs = wait_for_documents(c, "flood", len(accepted), timeout=180)
        runtime.close()
    assert {d["source"] for d in docs} == accepted
    assert {d["status"] for d in docs} == {"ready"}
