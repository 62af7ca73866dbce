"""The server layer's seams: one chat chain read by answers, the /v1 pass-through, the
Resources routes and /metrics. The backends are the scripted fault server (it records the
keys it is sent, which a real llama.cpp cannot)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events, wait_for_documents
from tests.fakes.fault_server import running_fault_server

HANDBOOK = b"# Handbook\n\nEvery employee gets 25 vacation days a year.\n"


def _value(metrics: str, series: str) -> float:
    """A sample's value; 0 when absent. Metrics are per process, so tests compare deltas."""
    found = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _sent_key(server_headers: list[dict[str, str]]) -> str:
    return server_headers[-1]["authorization"]


def test_a_changed_backend_reaches_answers_passthrough_and_metrics(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with running_fault_server() as (a_url, a), running_fault_server() as (b_url, b):
        a.required_key, b.required_key = "key-a", "key-b"
        settings = Settings(
            data_dir=tmp_path / "d",
            llm_base_url="http://127.0.0.1:9/v1",  # nothing listens: only the stored one works
            llm_model="m",
            expose_backend_models=True,
        )
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as c:
            before = c.get("/metrics").text
            c.post("/api/collections/c/documents", files=[("files", ("h.md", HANDBOOK))])
            wait_for_documents(c, "c", 1)
            body = {"model": "ok", "messages": [{"role": "user", "content": "Hi"}]}
            ask = {"message": "How many vacation days?", "collection": "c"}

            put = {"kind": "openai", "base_url": a_url, "model": "ok", "api_key": "key-a"}
            assert c.put("/api/resources/backends/layer-gpu", json=put).status_code == 200
            assert c.post("/v1/chat/completions", json=body).status_code == 200
            assert sse_events(c.post("/api/chat", json=ask))[-1][0] == "done"
            assert a.calls["ok"] == 2 and _sent_key(a.headers) == "Bearer key-a"

            # Same name, new URL and key: everything that talks to the backend follows.
            put = {"kind": "openai", "base_url": b_url, "model": "ok", "api_key": "key-b"}
            assert c.put("/api/resources/backends/layer-gpu", json=put).status_code == 200
            passed = c.post("/v1/chat/completions", json=body)
            assert passed.status_code == 200, passed.text
            assert sse_events(c.post("/api/chat", json=ask))[-1][0] == "done"
            assert b.calls["ok"] == 2 and _sent_key(b.headers) == "Bearer key-b"
            assert a.calls["ok"] == 2  # the old URL is not called again
            assert c.get("/api/resources/backends").json()[0]["base_url"] == b_url

            metrics = c.get("/metrics").text
        runtime.close()

    chats = 'ragserve_http_requests_total{method="POST",route="/api/chat",status="200"}'
    assert _value(metrics, chats) - _value(before, chats) == 2
    assert 'route="/api/resources/backends/{name}"' in metrics  # templates, not raw paths
    ttft = 'ragserve_chat_time_to_first_token_seconds_count{backend="layer-gpu"}'
    e2e = 'ragserve_chat_e2e_request_latency_seconds_count{backend="layer-gpu",outcome="ok"}'
    itl = 'ragserve_chat_inter_token_latency_seconds_count{backend="layer-gpu"}'
    assert _value(metrics, ttft) == 2 and _value(metrics, e2e) == 2
    assert _value(metrics, itl) > 0
    assert 'ragserve_backend_up{backend="layer-gpu",role="chat"} 1.0' in metrics
