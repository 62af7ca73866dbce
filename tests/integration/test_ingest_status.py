"""``/api/ingest/status`` tells the truth while a long document indexes: rates move as
windows of chunks are embedded, and counts never go negative when work is deleted."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app
from tests.fakes.fault_server import running_fault_server


def _long_text(words: int) -> bytes:
    rng = random.Random(7)
    vocab = ["leave", "policy", "travel", "budget", "office", "review", "team", "plan"]
    return " ".join(rng.choice(vocab) for _ in range(words)).encode()


def test_status_during_a_long_document_and_after_deleting_it(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with running_fault_server() as (llm_url, _):
        settings = Settings(data_dir=tmp_path / "d", llm_base_url=llm_url, llm_model="ok")
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as c:
            job = c.post(
                "/api/collections/c/documents",
                files=[("files", ("long.txt", _long_text(60_000)))],
            ).json()
            doc_id = job["items"][0]["document_id"]
            seen_rate = False
            # How far the document has come, as the document itself says (from the database).
            progress: list[float] = []
            deadline = time.monotonic() + 300
            while not (seen_rate and progress) and time.monotonic() < deadline:
                status = c.get("/api/ingest/status").json()
                assert status["queued"] >= 0 and status["indexing"] >= 0, status
                seen_rate = seen_rate or (status["indexing"] == 1 and status["chunks_per_s"] > 0)
                doc = c.get(f"/api/collections/c/documents/{doc_id}").json()
                assert doc["status"] != "ready", "indexed before its progress could be seen"
                if doc["status"] == "indexing" and doc["progress"]:
                    progress.append(doc["progress"])
                time.sleep(0.1)
            # The rate moves while the document is still indexing, not only at its end.
            assert seen_rate
            assert progress and all(0 < p < 1 for p in progress), progress
            assert c.get(f"/api/collections/c/documents/{doc_id}").json()["status"] == "indexing"

            assert c.delete(f"/api/collections/c/documents/{doc_id}").status_code == 204
            for _ in range(20):  # until the pipeline notices the cancellation
                status = c.get("/api/ingest/status").json()
                assert status["queued"] >= 0, status
                assert status["in_flight"] == status["queued"] + status["indexing"]
                time.sleep(0.1)
        runtime.close()
