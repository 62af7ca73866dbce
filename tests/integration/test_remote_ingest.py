"""``ragserve ingest --server``: uploads through a real server, resumes after being killed, and
slows down, rather than failing, when the server's queue is full."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from ragserve.api.serving.documents import document_info
from ragserve.cli import app
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.ingest.remote_client import RemoteIngestClient, connect
from ragserve.runtime import Runtime
from ragserve.store.ownership import DataDirLock
from ragserve.store.tables import DocumentRow
from tests.apiserver import running_app
from tests.fakes.fault_server import running_fault_server

SUMMARY = re.compile(r"(\d+) ingested, (\d+) skipped, (\d+) failed")


@contextmanager
def _server(tmp_path: Path, embedder: EmbeddingBackend, **overrides: Any) -> Iterator[
    tuple[str, Runtime]
]:  # fmt: skip
    """A real ragserve (the fault server answers chat, so no llama.cpp starts)."""
    with running_fault_server() as (llm_url, _):
        settings = Settings(
            data_dir=tmp_path / "server", llm_base_url=llm_url, llm_model="ok", **overrides
        )
        runtime = Runtime(settings, embedder=embedder)
        try:
            with running_app(settings, runtime) as url:
                yield url, runtime
        finally:
            runtime.close()


def _cli(args: list[str], cwd: Path) -> tuple[list[str], dict[str, str]]:
    """The ingest command line and an environment free of the caller's RAGSERVE_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env.update({"RAGSERVE_DATA_DIR": str(cwd / "client-data"), "COLUMNS": "200"})
    return [sys.executable, "-m", "ragserve", "ingest", *args], env


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command, env = _cli(args, cwd)
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _corpus(root: Path, folders: list[str], per_folder: int) -> list[Path]:
    """Small distinct notes; every folder holds the same file names."""
    paths = []
    for f, folder in enumerate(folders):
        (root / folder).mkdir(parents=True)
        for i in range(per_folder):
            path = root / folder / f"note-{i:03d}.txt"
            path.write_text(
                f"Note {i} in {folder}: the {folder} budget line {i} is {i * 7 + f} euros."
            )
            paths.append(path)
    return paths


def _documents(client: httpx.Client, collection: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/collections/{collection}/documents")
    if response.status_code == 404:
        return []
    docs: list[dict[str, Any]] = response.json()
    return docs


def test_an_interrupted_upload_of_300_files_resumes_and_stores_each_once(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    corpus = tmp_path / "corpus"
    files = _corpus(corpus, ["alpha", "beta", "gamma"], 100)  # 300 files, 100 distinct names
    # A small queue paces the upload to the server's speed, so the kill lands midway.
    with (
        _server(tmp_path, embedder, ingest_queue_capacity=40) as (url, runtime),
        httpx.Client(base_url=url, timeout=30) as api,
    ):
        args = [str(corpus), "--server", url, "-c", "notes", "--batch-size", "10"]
        command, env = _cli(args, tmp_path)
        first = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while len(_documents(api, "notes")) < 60:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the client uploaded nothing in 60 s"
            time.sleep(0.05)
        first.kill()  # SIGKILL: no chance to finish a batch or say goodbye
        first.communicate()
        time.sleep(0.5)  # an upload already sent when it died still lands: count it too
        at_kill = _documents(api, "notes")
        ready_at_kill = sum(1 for d in at_kill if d["status"] == "ready")
        assert len(at_kill) < 300, "the first run finished before it was interrupted"

        again = _run_cli(args, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        summary = SUMMARY.search(again.stdout)
        assert summary is not None, again.stdout
        ingested, skipped, failed = map(int, summary.groups())
        assert (ingested + skipped, failed) == (300, 0), again.stdout
        # What was indexed before the kill is not sent again; what never arrived is.
        assert skipped >= ready_at_kill > 0, again.stdout
        assert ingested >= 300 - len(at_kill), again.stdout

        docs = _documents(api, "notes")
        assert len(docs) == 300 and {d["status"] for d in docs} == {"ready"}
        assert len({d["id"] for d in docs}) == 300
        # Same names in three folders stay three documents, named by their folder.
        expected = {f"{p.parent.name}~{p.name}" for p in files}
        assert {d["source"] for d in docs} == expected
        beta = next(d for d in docs if d["source"] == "beta~note-007.txt")
        assert (
            beta["content_hash"]
            == hashlib.sha256((corpus / "beta" / "note-007.txt").read_bytes()).hexdigest()
        )
        # Each chunk stored once: the vectors are exactly the chunks the documents list.
        coll = runtime.catalog.collections.get("notes")
        assert coll is not None
        assert runtime.catalog.vectors.count(coll.vector_collection) == sum(
            d["chunks"] for d in docs
        )

        third = _run_cli(args, tmp_path)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "0 ingested, 300 skipped, 0 failed" in third.stdout


def test_a_full_queue_slows_the_client_down_instead_of_failing_it_and_names_stay_apart(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus, ["ops"], 30)
    with (
        _server(tmp_path, embedder, ingest_queue_capacity=5) as (url, _),
        httpx.Client(base_url=url, timeout=30) as other,
    ):
        competitor: list[httpx.Response] = []

        def another_uploader_fills_the_queue(request: httpx.Request) -> None:
            # Between the client's status check and its first upload: the race 429 is for.
            if request.method == "POST" and not competitor:
                words = " ".join(["shared queue capacity"] * 100)
                docs = [("files", (f"big-{i}.txt", f"{i} {words}".encode())) for i in range(5)]
                competitor.append(other.post("/api/collections/other/documents", files=docs))

        with connect(url, None) as http:
            http.event_hooks["request"] = [another_uploader_fills_the_queue]
            report = RemoteIngestClient(http, "busy", batch_files=10).run([corpus])

        assert competitor and competitor[0].status_code == 202
        assert report.server_full >= 1 and report.waited_s >= 1.0  # Retry-After honoured
        assert (report.count("ingested"), len(report.failed)) == (30, 0), report.failed
        docs = _documents(other, "busy")
        assert len(docs) == 30 and {d["status"] for d in docs} == {"ready"}

        # One relative path under two folder arguments: the second is refused, not merged.
        for team, day in (("x", "Mondays"), ("y", "Fridays")):
            (tmp_path / team).mkdir()
            (tmp_path / team / "readme.txt").write_text(f"The {team} team meets on {day}.")
        with connect(url, None) as http:
            report = RemoteIngestClient(http, "dups").run([tmp_path / "x", tmp_path / "y"])
        assert report.count("ingested") == 1
        (refused,) = report.failed
        assert refused.source == str(tmp_path / "y" / "readme.txt")
        assert "same name 'readme.txt'" in str(refused.reason)
        (only,) = _documents(other, "dups")
        assert only["source"] == "readme.txt" and only["status"] == "ready"
        x_bytes = (tmp_path / "x" / "readme.txt").read_bytes()
        assert only["content_hash"] == hashlib.sha256(x_bytes).hexdigest()


def test_ingest_next_to_a_running_server_points_at_server(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path / "data")
    lock.acquire()
    try:
        result = CliRunner().invoke(
            app, ["ingest", str(tmp_path)], env={"RAGSERVE_DATA_DIR": str(tmp_path / "data")}
        )
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "server is running" in result.output
    assert "--server http://127.0.0.1:8000" in result.output


def test_the_listing_never_offers_a_hash_that_is_not_of_the_bytes() -> None:
    def row(content_hash: str | None, indexed_hash: str | None) -> DocumentRow:
        return DocumentRow(
            id="d", collection="c", source="a.txt", status="ready", chunks=1,
            content_hash=content_hash, indexed_hash=indexed_hash, updated_at=datetime.now(UTC),
        )  # fmt: skip

    assert document_info(row("bytes", "indexed")).content_hash == "bytes"
    # Indexed before the plain hash was kept: one upload refreshes it, a wrong match never.
    assert document_info(row("indexed", "indexed")).content_hash is None
    assert document_info(row("bytes", None)).content_hash is None  # nothing indexed
