"""Metrics, dashboards, alert rules, readiness and traces, as an operator meets them.

The chat backends are the scripted fault server (and closed or silent loopback ports for
the dead and the slow ones); the embedder, the store and the server are real.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import httpx
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from ragserve.batch.runner import run_batch
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.observability.tracing import Tracing
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events, wait_for_documents
from tests.conftest import ROOT
from tests.fakes.fault_server import running_fault_server

GRAFANA = ROOT / "deploy" / "grafana"
PROMETHEUS = ROOT / "deploy" / "prometheus"
HANDBOOK = b"# Handbook\n\nEvery employee gets 25 vacation days a year.\n"

# vLLM 0.33.0's metrics, with their Prometheus types. Checked once against vLLM's own source:
#   pip download 'vllm==0.33.*' --no-deps   (vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl)
#   unzip the wheel; grep -o 'name="vllm:[a-z_]*"' vllm/v1/metrics/loggers.py, reading each
#   one's class (self._gauge_cls / _counter_cls / _histogram_cls) beside it.
# Neither vllm:gpu_cache_usage_perc nor vllm:time_per_output_token_seconds appears there (only
# vllm:request_time_per_output_token_seconds, a different, per-request histogram).
VLLM_0_33 = {
    "vllm:num_requests_running": "gauge", "vllm:num_requests_waiting": "gauge",
    "vllm:num_requests_waiting_by_reason": "gauge", "vllm:engine_sleep_state": "gauge",
    "vllm:kv_cache_usage_perc": "gauge", "vllm:lora_requests_info": "gauge",
    "vllm:cache_config_info": "gauge",
    "vllm:prefix_cache_queries": "counter", "vllm:prefix_cache_hits": "counter",
    "vllm:external_prefix_cache_queries": "counter", "vllm:external_prefix_cache_hits": "counter",
    "vllm:mm_cache_queries": "counter", "vllm:mm_cache_hits": "counter",
    "vllm:num_preemptions": "counter", "vllm:prompt_tokens": "counter",
    "vllm:prompt_tokens_by_source": "counter", "vllm:prompt_tokens_cached": "counter",
    "vllm:generation_tokens": "counter", "vllm:request_success": "counter",
    "vllm:admission_rejections": "counter", "vllm:corrupted_requests": "counter",
    "vllm:request_prompt_tokens": "histogram", "vllm:request_generation_tokens": "histogram",
    "vllm:iteration_tokens_total": "histogram", "vllm:request_params_n": "histogram",
    "vllm:request_params_max_tokens": "histogram",
    "vllm:request_max_num_generation_tokens": "histogram",
    "vllm:time_to_first_token_seconds": "histogram",
    "vllm:inter_token_latency_seconds": "histogram",
    "vllm:request_time_per_output_token_seconds": "histogram",
    "vllm:e2e_request_latency_seconds": "histogram",
    "vllm:request_queue_time_seconds": "histogram",
    "vllm:request_inference_time_seconds": "histogram",
    "vllm:request_prefill_time_seconds": "histogram",
    "vllm:request_decode_time_seconds": "histogram",
    "vllm:request_num_preemptions": "histogram",
}  # fmt: skip
# Renamed or removed by vLLM 0.33; dashboards copied from older blog posts still query them.
VLLM_REMOVED = {
    "vllm:gpu_cache_usage_perc", "vllm:cpu_cache_usage_perc", "vllm:num_requests_swapped",
    "vllm:time_per_output_token_seconds", "vllm:gpu_prefix_cache_hit_rate",
    "vllm:avg_prompt_throughput_toks_per_s", "vllm:avg_generation_throughput_toks_per_s",
}  # fmt: skip
# dcgm-exporter's etc/default-counters.csv (the fields it exports unless told otherwise).
DCGM_DEFAULTS = {
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL", "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    "DCGM_FI_DEV_VGPU_LICENSE_STATUS", "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
}  # fmt: skip


def _series_names(name: str, kind: str) -> set[str]:
    """The names a metric of this type is queried by."""
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


# The shared queue's gauges (issue 15's contract): exported by workers, and by the API only
# with RAGSERVE_QUEUE_URL, so the embedded server below cannot show them. The cluster tests
# scrape them from a live worker; the alert rules on them are unit-tested by promtool.
QUEUE_METRICS = {"ragserve_queue_depth", "ragserve_queue_dead_letters"}

PINNED = (
    {s for name, kind in VLLM_0_33.items() for s in _series_names(name, kind)}
    | DCGM_DEFAULTS
    | QUEUE_METRICS
)

_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def promql_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression reads: identifiers that are not functions, keywords,
    grouping labels, label matchers or ranges (enough for the queries we write)."""
    text = re.sub(r'"[^"]*"', '""', expr)  # label values and strings
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges, $__rate_interval
    names = set()
    for m in re.finditer(r"(?<![\w$.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        if not m.group(2) and m.group(1).lower() not in _PROMQL_WORDS:
            names.add(m.group(1))
    return names


def _dashboards_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_dashboards", GRAFANA / "dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def queried_metrics() -> dict[str, set[str]]:
    """Every metric a dashboard panel, dashboard variable or alert rule reads, with where."""
    where: dict[str, set[str]] = {}
    for board in sorted(GRAFANA.glob("*.json")):
        data = json.loads(board.read_text())
        exprs = [t["expr"] for p in data["panels"] for t in p.get("targets", [])]
        exprs += [
            re.sub(r"^label_values\((\w[\w:]*),.*", r"\1", v["definition"])
            for v in data["templating"]["list"]
            if v["type"] == "query"
        ]
        for expr in exprs:
            for name in promql_metrics(expr):
                where.setdefault(name, set()).add(board.name)
    for rules in sorted(PROMETHEUS.glob("*.yml")):
        if rules.name.endswith(".test.yml"):
            continue
        for group in yaml.safe_load(rules.read_text())["groups"]:
            for rule in group["rules"]:
                for name in promql_metrics(rule["expr"]):
                    where.setdefault(name, set()).add(f"{rules.name}:{rule['alert']}")
    return where


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: a hung server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as {(sample name, sorted labels): value}."""
    samples = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def grown(observed: Observed, samples: dict[tuple[str, tuple[tuple[str, str], ...]], float],
          name: str, **labels: str) -> float:  # fmt: skip
    """How much a counter or histogram sample grew during the fixture's traffic."""
    return value(samples, name, **labels) - observed.before.get(
        (name, tuple(sorted(labels.items()))), 0.0
    )


def _child_of(span: ReadableSpan, parent: Any) -> bool:
    return span.parent is not None and span.parent.span_id == parent.span_id


# -- a live server after real traffic --------------------------------------------------------


@dataclass
class Observed:
    client: httpx.Client
    spans: InMemorySpanExporter
    conversation_id: str
    answers: list[dict[str, Any]] = field(default_factory=list)
    #: /metrics before the traffic: counters are per process, so earlier tests' counts stay.
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory, embedder: EmbeddingBackend
) -> Iterator[Observed]:
    """A server whose chain is a dead "vllm" then a working "backup", traced in memory, after
    an upload, a question, a follow-up in the same conversation and an embeddings call."""
    spans = InMemorySpanExporter()
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    with running_fault_server() as (fault_url, _):
        chain = [
            {"name": "vllm", "kind": "openai", "base_url": dead, "model": "m"},
            {"name": "backup", "kind": "openai", "base_url": fault_url, "model": "ok"},
        ]  # fmt: skip
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("observed") / "d", llm_backends=chain,
            breaker_failures=1,
        )  # fmt: skip
        tracing = Tracing.to(spans, batch=False)  # exported as each span ends: no waiting
        runtime = Runtime(settings, embedder=embedder, tracing=tracing)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as c:
            before = scrape(c)
            c.post("/api/collections/c/documents", files=[("files", ("handbook.md", HANDBOOK))])
            wait_for_documents(c, "c", 1)
            first = sse_events(
                c.post("/api/chat", json={"message": "Vacation days?", "collection": "c"})
            )
            conversation = json.loads(first[0][1])["conversation_id"]
            second = sse_events(
                c.post(
                    "/api/chat",
                    json={"message": "And for part-timers?", "conversation_id": conversation},
                )
            )
            assert first[-1][0] == "done" and second[-1][0] == "done", (first, second)
            embedded = c.post(
                "/v1/embeddings", json={"model": embedder.model_id, "input": ["a", "b"]}
            )
            assert embedded.status_code == 200
            assert c.get("/readyz").status_code == 200
            answers = [json.loads(e[-1][1]) for e in (first, second)]
            yield Observed(c, spans, conversation, answers, before)
        runtime.close()
        tracing.provider.shutdown()


def test_every_metric_a_dashboard_or_alert_queries_exists(observed: Observed) -> None:
    exported = {name for name, _ in scrape(observed.client)}
    queried = queried_metrics()
    assert len(queried) > 40  # the parser found the queries at all
    unknown = {name: sorted(at) for name, at in queried.items() if name not in exported | PINNED}
    assert not unknown, f"queried but neither exported by ragserve nor pinned: {unknown}"
    removed = {name: sorted(at) for name, at in queried.items() if name in VLLM_REMOVED}
    assert not removed, f"metrics vLLM 0.33 no longer has: {removed}"
    for board in GRAFANA.glob("*.json"):
        text = board.read_text()
        assert "gpu_cache_usage_perc" not in text
        assert not re.search(r"vllm:time_per_output_token_seconds", text)
    # Each dashboard reads its own source, and ragserve's reads only real ragserve series.
    ragserve_queried = {n for n, at in queried.items() if "ragserve.json" in at}
    assert ragserve_queried and ragserve_queried <= exported
    assert {n for n, at in queried.items() if "gpu.json" in at} <= DCGM_DEFAULTS
    assert json.loads((GRAFANA / "vllm.json").read_text())["title"] == "vLLM (metrics of 0.33.0)"


def test_metrics_tell_what_happened(observed: Observed) -> None:
    samples = scrape(observed.client)

    def grew(name: str, **labels: str) -> float:
        return grown(observed, samples, name, **labels)

    # The dead backend: down, failed over once, and its probe says unreachable.
    assert value(samples, "ragserve_backend_up", backend="vllm", role="chat") == 0
    assert value(samples, "ragserve_backend_reachable", backend="vllm", role="chat") == 0
    assert value(samples, "ragserve_backend_up", backend="backup", role="chat") == 1
    assert value(samples, "ragserve_backend_reachable", backend="backup", role="chat") == 1
    assert grew("ragserve_backend_failovers_total", backend="vllm") == 1
    # Two answers' tokens, as the server reported them (5 prompt, 5 completion each).
    assert grew("ragserve_answer_prompt_tokens_count") == 2
    assert grew("ragserve_answer_completion_tokens_sum") == 10
    # Retrieval ran per question; the rerank slot exists, empty.
    assert grew("ragserve_retrieval_duration_seconds_count", stage="search") == 2
    assert grew("ragserve_retrieval_duration_seconds_count", stage="embed") == 2
    assert grew("ragserve_retrieval_duration_seconds_count", stage="rerank") == 0
    # Questions waited in the interactive lane, the upload's chunks in the bulk one.
    assert grew("ragserve_embed_queue_seconds_count", priority="interactive") >= 3
    assert grew("ragserve_embed_queue_seconds_count", priority="bulk") >= 1
    assert grew("ragserve_embed_batch_size_count", kind="passage") >= 1
    assert grew("ragserve_embed_batch_size_sum", kind="query") >= 4  # 2 questions, 2 texts
    # Ingestion: done, nothing queued.
    assert value(samples, "ragserve_documents", status="ready") == 1
    assert value(samples, "ragserve_documents", status="failed") == 0
    assert value(samples, "ragserve_ingest_queue_fraction") == 0


def test_each_question_is_one_trace_of_rewrite_retrieval_and_generation(observed: Observed) -> None:
    spans = observed.spans.get_finished_spans()
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span)
    questions = [s for s in spans if s.name == "question"]
    assert len(questions) == 2  # one trace per question, nothing else traced
    assert all(s.parent is None for s in questions)

    def tree(root: ReadableSpan) -> list[tuple[str, list[str]]]:
        assert root.context is not None
        family = by_trace[root.context.trace_id]
        children = [s for s in family if s.parent and s.parent.span_id == root.context.span_id]
        return sorted(
            (c.name, sorted(g.name for g in family if c.context and _child_of(g, c.context)))
            for c in children
        )  # fmt: skip

    first, second = sorted(questions, key=lambda s: s.start_time or 0)
    # The first question failed over: a failed generation on vllm, then one on backup.
    assert tree(first) == [("generation", []), ("generation", []), ("retrieval", [])]
    # The follow-up was rewritten (its own LLM call inside); vllm's circuit was open by then.
    assert tree(second) == [("generation", []), ("retrieval", []), ("rewrite", ["generation"])]
    for root, result in zip((first, second), observed.answers, strict=True):
        attrs = dict(root.attributes or {})
        assert attrs["session.id"] == observed.conversation_id
        assert attrs["langfuse.trace.output"] == result["answer"]
        assert attrs["ragserve.collection"] == "c"
        assert attrs["gen_ai.usage.input_tokens"] == result["usage"]["prompt_tokens"]
    assert dict(first.attributes or {})["langfuse.trace.input"] == "Vacation days?"

    assert first.context is not None
    gens = {
        dict(s.attributes or {})["ragserve.backend"]: s
        for s in by_trace[first.context.trace_id]
        if s.name == "generation"
    }
    failed, served = gens["vllm"], gens["backup"]
    assert (
        failed.status.status_code is StatusCode.ERROR
        and "connect" in (failed.status.description or "").lower()
    )
    attrs = dict(served.attributes or {})
    assert served.status.status_code is not StatusCode.ERROR
    assert attrs["langfuse.observation.type"] == "generation"
    assert attrs["gen_ai.request.model"] == "ok"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (5, 5)
    assert attrs["langfuse.observation.output"] == "Hello from the fault server."
    assert 0 < float(attrs["ragserve.time_to_first_token_s"]) < 5
    assert "+00:00" in str(attrs["langfuse.observation.completion_start_time"])
    retrieval = next(s for s in by_trace[first.context.trace_id] if s.name == "retrieval")
    r_attrs = dict(retrieval.attributes or {})
    assert r_attrs["langfuse.observation.type"] == "retriever"
    assert r_attrs["ragserve.hits"] == 1 and r_attrs["langfuse.observation.output"] == "handbook.md"


# -- alert rules --------------------------------------------------------------------------


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make promtool` (Debian package prometheus)"
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    tested = _promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    names = {
        r["alert"]
        for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    assert names == {
        "RagserveBackendDown",
        "RagserveIngestQueueNearlyFull",
        "RagserveTimeToFirstTokenHigh",
        "RagserveIngestDeadLetters",
        "RagserveIngestQueueNotDraining",
        "VllmKvCacheNearlyFull",
    }


def test_dashboards_are_generated_from_their_source() -> None:
    module = _dashboards_module()
    for name in module.BOARDS:
        assert (GRAFANA / name).read_text() == module.render(name), (
            "run: python deploy/grafana/dashboards.py"
        )


# -- readiness ----------------------------------------------------------------------------


def test_a_hung_chat_backend_neither_fails_nor_slows_readiness(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with silent_port() as port:
        settings = Settings(
            data_dir=tmp_path / "d", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="m"
        )
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=30) as c:
            started = time.monotonic()
            ready = c.get("/readyz")
            # Well under the 3 s a hung backend's probe takes: the probe runs aside.
            assert time.monotonic() - started < 2.5
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["chat"].startswith("checking")
            assert ready.json()["checks"]["embedder"].startswith("ok")
            deadline = time.monotonic() + 15
            while (later := c.get("/readyz")).json()["checks"]["chat"].startswith("checking"):
                assert time.monotonic() < deadline, later.text
                time.sleep(0.5)
            assert later.status_code == 200
            expected = f"unreachable: no answer from http://127.0.0.1:{port}/v1 within 3 s"
            assert later.json()["checks"]["chat"] == expected
            samples = scrape(c)
            assert value(samples, "ragserve_backend_up", backend="llm", role="chat") == 0
            assert value(samples, "ragserve_backend_reachable", backend="llm", role="chat") == 0
        runtime.close()


# -- tracing never in the way --------------------------------------------------------------


class WatchedExporter(SpanExporter):
    """Delegates to a real exporter and notes which thread exported, and when."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.calls: list[tuple[str, float]] = []
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls.append((threading.current_thread().name, time.monotonic()))
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


def test_unreachable_or_hung_trace_collectors_cost_requests_nothing(
    tmp_path: Path, embedder: EmbeddingBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export soon after, to see it happen
    with silent_port() as hung, running_fault_server() as (fault_url, _):
        refused = WatchedExporter(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{closed_port()}/v1/traces", timeout=2)
        )
        silent = WatchedExporter(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{hung}/v1/traces", timeout=20)
        )
        tracing = Tracing.to(refused, silent)
        settings = Settings(data_dir=tmp_path / "d", llm_base_url=fault_url, llm_model="ok")
        runtime = Runtime(settings, embedder=embedder, tracing=tracing)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as c:
            c.post("/api/collections/c/documents", files=[("files", ("handbook.md", HANDBOOK))])
            wait_for_documents(c, "c", 1)
            for n in range(3):
                started = time.monotonic()
                events = sse_events(
                    c.post("/api/chat", json={"message": f"Vacation {n}?", "collection": "c"})
                )
                took = time.monotonic() - started
                assert events[-1][0] == "done", events
                # A blocking export would hold this request for the hung collector's 20 s.
                assert took < 8, f"question {n} took {took:.1f} s with tracing on"
            deadline = time.monotonic() + 10
            while not (refused.results and silent.calls) and time.monotonic() < deadline:
                time.sleep(0.05)
        assert refused.results and refused.results[0] is SpanExportResult.FAILURE
        # Both exports ran on the batch processors' own threads, never a request's.
        assert {name for name, _ in refused.calls + silent.calls} == {
            "OtelBatchSpanRecordProcessor"
        }
        started = time.monotonic()
        runtime.close()
        tracing.shutdown(timeout_s=1)  # the hung collector would hold an exit for 20 s
        assert time.monotonic() - started < 4


# -- query and batch ----------------------------------------------------------------------


def test_batch_makes_one_trace_per_request(tmp_path: Path) -> None:
    spans = InMemorySpanExporter()
    tracing = Tracing.to(spans, batch=False)
    tracing.install()
    try:
        hi = [{"role": "user", "content": "Hi"}]
        with running_fault_server() as (url, _):
            requests = [
                {"custom_id": "q1", "body": {"model": "ok", "messages": hi}},
                {"custom_id": "q2", "body": {"model": "http-400", "messages": hi}},
                {"custom_id": "e1", "url": "/v1/embeddings", "body": {"model": "ok", "input": "a"}},
            ]
            totals = asyncio.run(run_batch(requests, tmp_path / "out.jsonl", url, max_retries=0))
    finally:
        tracing.shutdown()
    assert (totals.succeeded, totals.failed) == (2, 1)
    finished = spans.get_finished_spans()
    roots = {
        dict(s.attributes or {})["ragserve.custom_id"]: s
        for s in finished
        if s.name == "batch request"
    }
    assert set(roots) == {"q1", "q2", "e1"}
    children = {
        cid: [
            s
            for s in finished
            if s.parent and root.context and s.parent.span_id == root.context.span_id
        ]
        for cid, root in roots.items()
    }
    [ok] = children["q1"]
    assert ok.name == "generation" and dict(ok.attributes or {})["gen_ai.usage.output_tokens"] == 5
    [refused] = children["q2"]
    assert refused.status.status_code is StatusCode.ERROR
    assert dict(refused.attributes or {})["http.response.status_code"] == 400
    [embedding] = children["e1"]
    assert embedding.name == "embedding"
    assert dict(embedding.attributes or {})["langfuse.observation.type"] == "embedding"


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append((self.path, self.headers.get("authorization", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_query_command_sends_its_trace_to_langfuse_and_to_an_otlp_collector() -> None:
    """The real CLI, configured only by the environment, against a loopback OTLP receiver
    standing in for both Langfuse and a collector."""
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with running_fault_server() as (url, _):
            env = {
                **os.environ,
                "LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "sk-lf-test",
                "LANGFUSE_HOST": f"{receiver}/langfuse",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"{receiver}/otlp",
            }  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "ragserve", "query", "Hi", "--base-url", url,
                 "--model", "ok"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    paths = {path: auth for path, auth, _ in _Receiver.received}
    assert set(paths) == {"/langfuse/api/public/otel/v1/traces", "/otlp/v1/traces"}
    assert paths["/langfuse/api/public/otel/v1/traces"] == "Basic cGstbGYtdGVzdDpzay1sZi10ZXN0"
    for _, _, body in _Receiver.received:
        request = ExportTraceServiceRequest.FromString(body)
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert sorted(s.name for s in spans) == ["generation", "query"]
        generation = next(s for s in spans if s.name == "generation")
        attrs = {a.key: a.value for a in generation.attributes}
        assert attrs["gen_ai.usage.input_tokens"].int_value == 5
        assert attrs["gen_ai.request.model"].string_value == "ok"
