"""What the API does when backends fail, work is in flight, or requests are not allowed.

The chat backend is the scripted fault server: a real llama.cpp cannot be told to fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events, wait_for_documents
from tests.fakes.fault_server import running_fault_server

HANDBOOK = b"# Handbook\n\nEvery employee gets 25 vacation days a year.\n"

AppFactory = Callable[..., AbstractContextManager[httpx.Client]]


@pytest.fixture
def app(tmp_path: Path, embedder: EmbeddingBackend) -> Iterator[AppFactory]:
    """Start an app on the fault server with extra settings: ``with app(llm_model=...)``."""
    with running_fault_server() as (fault_url, _):

        @contextmanager
        def start(**overrides: Any) -> Iterator[httpx.Client]:
            values: dict[str, Any] = {
                "data_dir": tmp_path / "data", "llm_base_url": fault_url, "llm_model": "ok",
            }  # fmt: skip
            settings = Settings(**{**values, **overrides})
            runtime = Runtime(settings, embedder=embedder)
            with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as c:
                yield c
            runtime.close()

        yield start


def _upload(client: httpx.Client, name: str, data: bytes, collection: str = "c") -> httpx.Response:
    return client.post(f"/api/collections/{collection}/documents", files=[("files", (name, data))])


@pytest.mark.parametrize("model", ["http-503", "cut", "stall-first"])
def test_backend_failures_end_the_stream_with_an_error_event(app: AppFactory, model: str) -> None:
    # `generate`: with the default `auto`, a backend that fails before its first token is
    # answered extractively instead (tests/integration/test_extractive_answers.py).
    with app(llm_model=model, llm_first_token_timeout_s=1, answer_mode="generate") as client:
        _upload(client, "handbook.md", HANDBOOK)
        wait_for_documents(client, "c", 1)
        events = sse_events(
            client.post("/api/chat", json={"message": "Vacation?", "collection": "c"})
        )
        assert events[0][0] == "meta" and events[-1][0] == "error"
        error = json.loads(events[-1][1])["error"]
        assert error["type"] in ("backend_error", "backend_timeout") and error["message"]
        # The OpenAI facade sends the same body as a final data event, then [DONE].
        body = {"model": "rag:c", "stream": True, "messages": [{"role": "user", "content": "Hi?"}]}
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            data = [d for _, d in sse_events(r)]
        assert data[-1] == "[DONE]" and "error" in json.loads(data[-2])
        plain = client.post("/v1/chat/completions", json={**body, "stream": False})
        assert plain.status_code in (502, 504) and plain.json()["error"]["message"]


def test_indexing_documents_are_left_out_and_named(app: AppFactory) -> None:
    # Two chunks a second: the long document stays indexing for a while.
    with app(ingest_embed_rate=2.0, chunk_tokens=32, chunk_overlap=0) as client:
        _upload(client, "handbook.md", HANDBOOK)
        wait_for_documents(client, "c", 1)
        long_text = "\n\n".join(f"Rule {i}: vacation days are 25 per year." for i in range(200))
        _upload(client, "rules.md", f"# Rules\n\n{long_text}".encode())
        deadline = time.monotonic() + 30
        while client.get("/api/ingest/status").json()["indexing"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        search = client.post("/api/search", json={"collection": "c", "query": "vacation days"})
        assert search.json()["indexing"] == ["rules.md"]
        assert {r["source"] for r in search.json()["results"]} == {"handbook.md"}
        events = sse_events(
            client.post("/api/chat", json={"message": "Vacation?", "collection": "c"})
        )
        citations = json.loads(next(d for n, d in events if n == "citations"))
        assert citations["indexing"] == ["rules.md"]
        assert {s["source"] for s in citations["sources"]} == {"handbook.md"}
        status = client.get("/api/ingest/status").json()
        assert status["in_flight"] == 1 and status["embed_rate_limit"] == 2.0

        # Deleting it mid-way drops the rest of its work and leaves no chunks behind.
        rules = next(
            d
            for d in client.get("/api/collections/c/documents").json()
            if d["source"] == "rules.md"
        )
        assert client.delete(f"/api/collections/c/documents/{rules['id']}").status_code == 204
        deadline = time.monotonic() + 30
        while client.get("/api/ingest/status").json()["in_flight"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)
        docs = client.get("/api/collections/c/documents").json()
        assert [d["source"] for d in docs] == ["handbook.md"]
        after = client.post("/api/search", json={"collection": "c", "query": "Rule 7", "top_k": 50})
        assert {r["source"] for r in after.json()["results"]} == {"handbook.md"}


def test_request_body_limit_answers_413(app: AppFactory) -> None:
    with app(max_request_mb=0.01) as client:
        response = _upload(client, "big.md", b"# Big\n\n" + b"word " * 10_000)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "request_too_large"
        assert _upload(client, "small.md", HANDBOOK).status_code == 202


def test_api_key_and_admin_paths(app: AppFactory, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "policy.md").write_bytes(HANDBOOK)
    (tmp_path / "secret.md").write_bytes(b"# Secret\n\nnot for the index")
    with app(api_key="user-key", admin_key="admin-key", ingest_roots=[shared]) as client:
        assert client.get("/healthz").status_code == 200
        denied = client.get("/api/collections")
        assert (
            denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
        )
        user = {"Authorization": "Bearer user-key"}
        admin = {"Authorization": "Bearer admin-key"}
        assert client.get("/api/collections", headers=user).status_code == 200
        assert client.get("/v1/models").status_code == 401
        body = {"paths": [str(shared)]}
        url = "/api/collections/c/documents/from-paths"
        assert client.post(url, json=body, headers=user).status_code == 403
        job = client.post(url, json=body, headers=admin)
        assert (
            job.status_code == 202 and sum(job.json()["counts"].values()) == 1
        )  # may have started
        outside = client.post(url, json={"paths": [str(tmp_path / "secret.md")]}, headers=admin)
        assert outside.status_code == 403 and "RAGSERVE_INGEST_ROOTS" in outside.text
        client.headers.update(admin)
        docs = wait_for_documents(client, "c", 1)
        assert [d["status"] for d in docs] == ["ready"]


def test_readyz_names_an_unreachable_backend(tmp_path: Path, embedder: EmbeddingBackend) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", llm_base_url="http://127.0.0.1:9/v1", llm_model="m"
    )
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url:
        ready = httpx.get(f"{url}/readyz", timeout=30)
        # Issue 12: a dead chat backend is reported, not fatal — every pod shares it, so
        # failing readiness on it would take them all out of their Service at once.
        assert ready.status_code == 200
        assert ready.json()["checks"]["chat"].startswith("unreachable")
        assert ready.json()["checks"]["embedder"].startswith("ok")
        assert httpx.get(f"{url}/healthz").status_code == 200
    runtime.close()


def test_backend_models_are_listed_and_passed_through_when_exposed(app: AppFactory) -> None:
    with app(expose_backend_models=True) as client:
        _upload(client, "handbook.md", HANDBOOK)
        wait_for_documents(client, "c", 1)
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert {"rag:c", "ok"} <= set(ids)
        body = {"model": "ok", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            data = [d for _, d in sse_events(r)]
        text = "".join(
            json.loads(d)["choices"][0]["delta"].get("content", "") for d in data if d != "[DONE]"
        )
        assert text == "Hello from the fault server." and data[-1] == "[DONE]"
    with app() as client:  # off by default: only collections and the embedding model
        assert "ok" not in [m["id"] for m in client.get("/v1/models").json()["data"]]


def test_readyz_and_metrics_show_each_backend_of_the_chain(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with running_fault_server() as (fault_url, _):
        chain = [
            {"name": "vllm", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            {"name": "backup", "kind": "openai", "base_url": fault_url, "model": "ok"},
        ]
        settings = Settings(data_dir=tmp_path / "d", llm_backends=chain, breaker_failures=1)
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=30) as c:
            ready = c.get("/readyz")
            assert ready.status_code == 200  # one live backend is enough
            checks = ready.json()["checks"]
            assert checks["chat:vllm"].startswith("unreachable")
            assert checks["chat:backup"].startswith("ok: ok")
            _upload(c, "handbook.md", HANDBOOK)
            wait_for_documents(c, "c", 1)
            events = sse_events(
                c.post("/api/chat", json={"message": "Vacation?", "collection": "c"})
            )
            assert events[-1][0] == "done"  # served by the backup
            metrics = c.get("/metrics").text
            assert 'ragserve_backend_up{backend="vllm",role="chat"} 0' in metrics
            assert 'ragserve_backend_successes_total{backend="backup",role="chat"} 1' in metrics
            assert "ragserve_ingest_capacity 1000" in metrics
        runtime.close()


def test_doctor_route_runs_the_checks_on_the_live_server(app: AppFactory) -> None:
    with app(llm_model="ok", top_k=20) as client:  # the scripted server's window is 2,048
        report = client.get("/api/doctor").json()
    checks = {c["name"]: c for c in report["checks"]}
    assert not report["ok"]
    assert checks["embedder"]["ok"] and checks["chat endpoint"]["ok"]
    assert not checks["chat endpoint context"]["ok"]
    assert "--max-model-len" in checks["chat endpoint context"]["fix"]


def test_resources_store_adds_backends_to_the_chain_at_run_time(app: AppFactory) -> None:
    # The configured backend fails; a working one is added through the API.
    with (
        running_fault_server() as (second_url, second),
        app(llm_model="http-503", breaker_failures=1, answer_mode="generate") as client,
    ):
        _upload(client, "handbook.md", HANDBOOK)
        wait_for_documents(client, "c", 1)
        before = client.get("/api/resources/backends").json()
        assert [(b["name"], b["source"]) for b in before] == [("llm", "settings")]
        failed = sse_events(client.post("/api/chat", json={"message": "Hi?", "collection": "c"}))
        assert failed[-1][0] == "error"

        added = client.put(
            "/api/resources/backends/gpu",
            json={"kind": "openai", "base_url": second_url, "model": "ok", "api_key": "k"},
        )
        assert added.status_code == 200
        chain = [(b["name"], b["source"], b["has_api_key"]) for b in added.json()]
        assert chain == [("gpu", "store", True), ("llm", "settings", False)]
        assert '"api_key"' not in added.text  # write-only
        served = sse_events(client.post("/api/chat", json={"message": "Hi?", "collection": "c"}))
        assert served[-1][0] == "done" and second.calls["ok"] >= 1

        report = client.post("/api/resources/backends/gpu/test").json()
        assert report["ok"], report
        assert [c["name"] for c in report["checks"]] == [
            "chat endpoint gpu", "chat endpoint gpu context",
        ]  # fmt: skip
        bad = client.put("/api/resources/backends/x", json={"kind": "nope"})
        assert bad.status_code == 422 and "known:" in bad.json()["error"]["message"]
        assert bad.json()["error"]["param"] == "kind"
        assert client.delete("/api/resources/backends/gpu").status_code == 204
        assert client.delete("/api/resources/backends/gpu").status_code == 404
        assert [b["name"] for b in client.get("/api/resources/backends").json()] == ["llm"]


def test_usage_is_the_backends_own_count(app: AppFactory) -> None:
    # The scripted server reports 5 prompt tokens and one completion token per word (5).
    with app(llm_model="ok") as client:
        _upload(client, "handbook.md", HANDBOOK)
        wait_for_documents(client, "c", 1)
        ask = {"model": "rag:c", "messages": [{"role": "user", "content": "Vacation?"}]}
        usage = client.post("/v1/chat/completions", json=ask).json()["usage"]
        assert usage == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
        streamed = {**ask, "stream": True, "stream_options": {"include_usage": True}}
        with client.stream("POST", "/v1/chat/completions", json=streamed) as r:
            data = [json.loads(d) for _, d in sse_events(r) if d != "[DONE]"]
        assert data[-1]["usage"] == usage  # not the number of streamed pieces
        done = sse_events(
            client.post("/api/chat", json={"message": "Vacation?", "collection": "c"})
        )
        assert json.loads(done[-1][1])["usage"] == usage


def test_request_errors_name_what_is_wrong(app: AppFactory) -> None:
    with app() as client:
        # A form without files is a bad request naming the field, not "too large".
        empty = client.post("/api/collections/c/documents", data={"note": "x"})
        assert empty.status_code == 400, empty.text
        assert empty.json()["error"]["param"] == "files"
        dims = client.post(
            "/v1/embeddings", json={"model": "default", "input": ["hi"], "dimensions": 7}
        )
        assert dims.status_code == 400 and dims.json()["error"]["param"] == "dimensions"
