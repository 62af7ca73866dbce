"""`ragserve batch`: OpenAI batch files in and out, retries, and resume after a kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT
from tests.fakes.fault_server import running_fault_server


def _write_requests(path: Path, n: int, model: str) -> None:
    rows = [
        {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}}
        for i in range(n)
    ]  # fmt: skip
    rows.append({"custom_id": "emb-0", "method": "POST", "url": "/v1/embeddings",
                 "body": {"model": "ok", "input": ["a", "b"]}})  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _batch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ragserve", "batch", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ},
    )  # fmt: skip


def _ids(path: Path) -> list[str]:
    ids = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            ids.append(json.loads(line)["custom_id"])
    return ids


def test_interrupted_batch_resumes_and_writes_each_id_once(tmp_path: Path) -> None:
    requests, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_requests(requests, 40, "paced-3-100")  # ~0.3 s each
    with running_fault_server() as (url, server):
        first = _batch(str(requests), str(results), "--base-url", url, "--concurrency", "2")
        deadline = time.monotonic() + 60
        while len(_ids(results) if results.exists() else []) < 8:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)  # reaps it and closes its pipes
        done_before = len(set(_ids(results)))
        assert 8 <= done_before < 41
        second = _batch(str(requests), str(results), "--base-url", url, "--concurrency", "8")
        stdout, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr
    ids = _ids(results)
    assert sorted(ids) == sorted([f"req-{i}" for i in range(40)] + ["emb-0"])  # once each
    said = " ".join(stdout.split())
    assert f"{done_before} already done" in said and "0 failed" in said
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    chat = next(r for r in rows if r["custom_id"] == "req-0")
    assert chat["response"]["status_code"] == 200
    assert chat["response"]["body"]["choices"][0]["message"]["content"] == " w0 w1 w2"
    emb = next(r for r in rows if r["custom_id"] == "emb-0")
    assert len(emb["response"]["body"]["data"]) == 2
    # Nothing already done was sent again.
    assert server.calls["paced-3-100"] <= 40 + 2


def test_retries_transient_errors_and_records_permanent_ones(tmp_path: Path) -> None:
    requests, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [
        {"custom_id": "flaky", "url": "/v1/embeddings", "body": {"model": "flaky-2", "input": "x"}},
        {"custom_id": "bad", "url": "/v1/chat/completions",
         "body": {"model": "http-400", "messages": [{"role": "user", "content": "x"}]}},
    ]  # fmt: skip
    requests.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with running_fault_server() as (url, server):
        run = _batch(str(requests), str(results), "--base-url", url)
        stdout, _ = run.communicate(timeout=60)
    assert run.returncode == 1  # one request failed for good
    out = {
        json.loads(line)["custom_id"]: json.loads(line) for line in results.read_text().splitlines()
    }
    assert out["flaky"]["response"]["status_code"] == 200 and server.calls["flaky-2"] == 3
    assert out["bad"]["response"]["status_code"] == 400 and server.calls["http-400"] == 1
    said = " ".join(stdout.split())  # the console wraps long lines
    assert "1 succeeded, 1 failed" in said and "2 retries" in said


def test_kubeflow_pipeline_compiles(tmp_path: Path) -> None:
    target = tmp_path / "pipeline.yaml"
    subprocess.run(
        [sys.executable, "deploy/kubeflow/batch_pipeline.py", str(target)],
        cwd=ROOT, check=True, timeout=120,
    )  # fmt: skip
    text = target.read_text()
    assert "ragserve-batch" in text and "- batch" in text and "--base-url" in text
