"""Writes the Grafana dashboards in this folder: ``python deploy/grafana/dashboards.py``.

Kept as code so the three dashboards share one layout and one datasource variable, and so a
test can read every query back (tests/integration/test_observability.py checks that each
metric a panel queries is one ragserve exports, or a vLLM or DCGM exporter metric of the
pinned versions). The JSON files are what Grafana (and the Helm chart's ConfigMap) load.

- ragserve.json: the API, chat latencies per backend, retrieval, embedding, ingestion,
  backend health (``/metrics`` of ragserve).
- vllm.json: vLLM's own ``/metrics``, names as of vLLM 0.33.0 (``vllm/v1/metrics/loggers.py``):
  ``kv_cache_usage_perc`` (not the removed ``gpu_cache_usage_perc``) and
  ``inter_token_latency_seconds`` (not the removed ``time_per_output_token_seconds``).
- gpu.json: NVIDIA dcgm-exporter with its default counters (``etc/default-counters.csv``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
VLLM_VERSION = "0.33.0"


def quantiles(
    metric: str, by: str, qs: tuple[float, ...] = (0.5, 0.99), where: str = ""
) -> list[tuple[str, str]]:
    """histogram_quantile targets of ``metric`` per ``by`` label, one per quantile."""
    sel = f"{{{where}}}" if where else ""
    keep = f", {by}" if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by (le{keep}) (rate({metric}_bucket{sel}[$__rate_interval])))",
            f"p{round(q * 100):d}" + (f" {{{{{by}}}}}" if by else ""),
        )
        for q in qs
    ]


class Board:
    def __init__(self, uid: str, title: str, description: str, tags: list[str]) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels: list[dict[str, Any]] = []
        self.variables: list[dict[str, Any]] = [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            }
        ]
        self.x = self.y = 0
        self.row_height = 0

    def variable(self, name: str, metric: str, label: str) -> None:
        """A multi-value filter over ``label`` of ``metric``."""
        self.variables.append(
            {
                "name": name,
                "label": label,
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": f"label_values({metric}, {label})", "refId": name},
                "definition": f"label_values({metric}, {label})",
                "refresh": 2,
                "multi": True,
                "includeAll": True,
                "current": {},
                "hide": 0,
                "allValue": ".*",
                "sort": 1,
            }
        )

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "id": len(self.panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            }
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0

    def panel(
        self,
        title: str,
        targets: list[tuple[str, str]],
        unit: str = "short",
        kind: str = "timeseries",
        width: int = 8,
        description: str = "",
        thresholds: list[tuple[float, str]] | None = None,
        max_value: float | None = None,
    ) -> None:
        height = 4 if kind == "stat" else 8
        if self.x + width > 24:
            self._newline()
        defaults: dict[str, Any] = {"unit": unit}
        if thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}]
                + [{"color": color, "value": value} for value, color in thresholds],
            }
        if max_value is not None:
            defaults["min"], defaults["max"] = 0, max_value
        self.panels.append(
            {
                "type": kind,
                "title": title,
                "description": description,
                "id": len(self.panels) + 1,
                "datasource": DATASOURCE,
                "gridPos": {"h": height, "w": width, "x": self.x, "y": self.y},
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
                if kind == "timeseries"
                else {"reduceOptions": {"calcs": ["lastNotNull"]}},
                "targets": [
                    {
                        "datasource": DATASOURCE,
                        "expr": expr,
                        "legendFormat": legend,
                        "refId": chr(ord("A") + i),
                    }
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )
        self.x += width
        self.row_height = max(self.row_height, height)

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "editable": True,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-3h", "to": "now"},
            "timezone": "browser",
            "graphTooltip": 1,
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "panels": self.panels,
        }


def ragserve() -> Board:
    b = Board(
        "ragserve",
        "ragserve",
        "ragserve's own /metrics: API traffic, answer latencies per chat backend, retrieval, "
        "embedding batches, ingestion queue and backend health.",
        ["ragserve", "rag"],
    )
    b.row("Backends")
    b.panel(
        "Backend up",
        [("min by (backend, role) (ragserve_backend_up)", "{{backend}} ({{role}})")],
        kind="stat",
        width=8,
        thresholds=[(1, "green")],
        description="0: circuit open or the latest /models probe failed.",
    )
    b.panel(
        "Backend failures /s",
        [
            (
                "sum by (backend, role) (rate(ragserve_backend_failures_total[$__rate_interval]))",
                "{{backend}} ({{role}})",
            )
        ],
        width=8,
    )
    b.panel(
        "Failovers /s",
        [
            (
                "sum by (backend) (rate(ragserve_backend_failovers_total[$__rate_interval]))",
                "past {{backend}}",
            )
        ],
        width=8,
        description="Questions moved past this backend to the next in the chain.",
    )
    b.panel(
        "Backend reachable (probe)",
        [
            ("min by (backend, role) (ragserve_backend_reachable)", "{{backend}}"),
            ("max by (backend) (ragserve_backend_probe_age_seconds)", "probe age s {{backend}}"),
        ],
        width=12,
    )
    b.panel(
        "Backend successes /s",
        [
            (
                "sum by (backend, role) (rate(ragserve_backend_successes_total[$__rate_interval]))",
                "{{backend}} ({{role}})",
            )
        ],
        width=12,
    )

    b.row("Answers")
    b.panel(
        "Time to first token",
        quantiles("ragserve_chat_time_to_first_token_seconds", "backend", (0.5, 0.95, 0.99)),
        unit="s",
        description="From sending to a backend to its first token. The alert fires on p99.",
    )
    b.panel(
        "Inter-token latency",
        quantiles("ragserve_chat_inter_token_latency_seconds", "backend"),
        unit="s",
    )
    b.panel(
        "End-to-end per backend",
        [
            *quantiles("ragserve_chat_e2e_request_latency_seconds", "backend"),
            (
                "sum by (outcome) (rate(ragserve_chat_e2e_request_latency_seconds_count[$__rate_interval]))",
                "{{outcome}} /s",
            ),
        ],
        unit="s",
    )
    b.panel(
        "Tokens /s",
        [
            ("sum(rate(ragserve_answer_prompt_tokens_sum[$__rate_interval]))", "prompt"),
            ("sum(rate(ragserve_answer_completion_tokens_sum[$__rate_interval]))", "completion"),
        ],
        width=12,
    )
    b.panel(
        "Tokens per answer",
        quantiles("ragserve_answer_prompt_tokens", "", (0.5, 0.95))
        + [
            (e, "completion " + legend)
            for e, legend in quantiles("ragserve_answer_completion_tokens", "", (0.5, 0.95))
        ],
        width=12,
    )

    b.row("Retrieval and embedding")
    b.panel(
        "Retrieval stages p95",
        quantiles("ragserve_retrieval_duration_seconds", "stage", (0.95,)),
        unit="s",
        description="embed: the query's embedding; search: the vector store; rerank: once a reranker runs.",
    )
    b.panel(
        "Embedding queue time p99",
        quantiles("ragserve_embed_queue_seconds", "priority", (0.99,)),
        unit="s",
        description="Interactive (questions, /v1/embeddings) should stay near the 2 ms merge delay "
        "even while bulk ingestion runs.",
    )
    b.panel(
        "Embedding batch size",
        quantiles("ragserve_embed_batch_size", "kind", (0.5, 0.95)),
        description="Texts per model call after merging concurrent requests.",
    )
    b.panel(
        "Embedding model call p95",
        quantiles("ragserve_embed_batch_duration_seconds", "kind", (0.95,)),
        unit="s",
    )
    b.panel("Embedding requests waiting", [("sum(ragserve_embed_queue)", "waiting")])
    b.panel(
        "Texts embedded /s", [("sum(rate(ragserve_embed_texts_total[$__rate_interval]))", "texts")]
    )

    b.row("Ingestion")
    b.panel(
        "Ingestion queue used",
        [("max(ragserve_ingest_queue_fraction)", "used")],
        kind="gauge",
        unit="percentunit",
        width=6,
        thresholds=[(0.75, "orange"), (0.9, "red")],
        max_value=1,
        description="Past 1.0 uploads get 429; the alert fires above 0.9.",
    )
    b.panel(
        "Queued / indexing",
        [
            ("sum(ragserve_ingest_queued)", "queued"),
            ("sum(ragserve_ingest_indexing)", "indexing"),
            ("max(ragserve_ingest_capacity)", "capacity"),
        ],
        width=6,
    )
    b.panel(
        "Documents by status", [("sum by (status) (ragserve_documents)", "{{status}}")], width=6
    )
    b.panel("Chunks indexed /s", [("sum(ragserve_ingest_chunks_per_second)", "chunks")], width=6)

    b.row("HTTP")
    b.panel(
        "Requests /s by route",
        [("sum by (route) (rate(ragserve_http_requests_total[$__rate_interval]))", "{{route}}")],
    )
    b.panel(
        "Errors (5xx) ratio",
        [
            (
                'sum(rate(ragserve_http_requests_total{status=~"5.."}[$__rate_interval])) / '
                "sum(rate(ragserve_http_requests_total[$__rate_interval]))",
                "5xx",
            )
        ],
        unit="percentunit",
    )
    b.panel(
        "Request latency p95 by route",
        quantiles("ragserve_http_request_duration_seconds", "route", (0.95,)),
        unit="s",
    )
    return b


def vllm() -> Board:
    b = Board(
        "vllm",
        f"vLLM (metrics of {VLLM_VERSION})",
        f"vLLM's /metrics, metric names checked against vLLM {VLLM_VERSION} "
        "(vllm/v1/metrics/loggers.py in its wheel).",
        ["vllm", "llm"],
    )
    b.variable("model_name", "vllm:num_requests_running", "model_name")
    m = 'model_name=~"$model_name"'
    b.row("Load")
    b.panel(
        "Requests running / waiting",
        [
            (f"sum by (model_name) (vllm:num_requests_running{{{m}}})", "running {{model_name}}"),
            (f"sum by (model_name) (vllm:num_requests_waiting{{{m}}})", "waiting {{model_name}}"),
        ],
    )
    b.panel(
        "KV cache used",
        [
            (
                f"max by (model_name, engine) (vllm:kv_cache_usage_perc{{{m}}})",
                "{{model_name}} engine {{engine}}",
            )
        ],
        unit="percentunit",
        max_value=1,
        thresholds=[(0.9, "red")],
        description="1 = full: new requests wait and running ones get preempted. Alert above 0.9.",
    )
    b.panel(
        "Preemptions /s",
        [
            (
                f"sum by (model_name) (rate(vllm:num_preemptions_total{{{m}}}[$__rate_interval]))",
                "{{model_name}}",
            )
        ],
    )
    b.row("Latency")
    b.panel(
        "Time to first token",
        quantiles("vllm:time_to_first_token_seconds", "model_name", (0.5, 0.99), m),
        unit="s",
    )
    b.panel(
        "Inter-token latency",
        quantiles("vllm:inter_token_latency_seconds", "model_name", (0.5, 0.99), m),
        unit="s",
    )
    b.panel(
        "End-to-end",
        quantiles("vllm:e2e_request_latency_seconds", "model_name", (0.5, 0.99), m),
        unit="s",
    )
    b.panel(
        "Queue time",
        quantiles("vllm:request_queue_time_seconds", "model_name", (0.5, 0.99), m),
        unit="s",
    )
    b.panel(
        "Prefill time",
        quantiles("vllm:request_prefill_time_seconds", "model_name", (0.5, 0.99), m),
        unit="s",
    )
    b.panel(
        "Decode time",
        quantiles("vllm:request_decode_time_seconds", "model_name", (0.5, 0.99), m),
        unit="s",
    )
    b.row("Tokens")
    b.panel(
        "Tokens /s",
        [
            (
                f"sum by (model_name) (rate(vllm:prompt_tokens_total{{{m}}}[$__rate_interval]))",
                "prompt {{model_name}}",
            ),
            (
                f"sum by (model_name) (rate(vllm:generation_tokens_total{{{m}}}[$__rate_interval]))",
                "generation {{model_name}}",
            ),
        ],
    )
    b.panel(
        "Prefix cache hit ratio",
        [
            (
                f"sum by (model_name) (rate(vllm:prefix_cache_hits_total{{{m}}}[$__rate_interval])) / "
                f"sum by (model_name) (rate(vllm:prefix_cache_queries_total{{{m}}}[$__rate_interval]))",
                "{{model_name}}",
            )
        ],
        unit="percentunit",
    )
    b.panel(
        "Finished requests /s",
        [
            (
                f"sum by (finished_reason) (rate(vllm:request_success_total{{{m}}}[$__rate_interval]))",
                "{{finished_reason}}",
            )
        ],
    )
    b.panel(
        "Prompt length",
        quantiles("vllm:request_prompt_tokens", "model_name", (0.5, 0.95), m),
        width=12,
    )
    b.panel(
        "Generation length",
        quantiles("vllm:request_generation_tokens", "model_name", (0.5, 0.95), m),
        width=12,
    )
    return b


def gpu() -> Board:
    b = Board(
        "gpu-dcgm",
        "GPUs (DCGM exporter)",
        "NVIDIA dcgm-exporter with its default counters (etc/default-counters.csv).",
        ["gpu", "dcgm"],
    )
    b.variable("Hostname", "DCGM_FI_DEV_GPU_UTIL", "Hostname")
    h = 'Hostname=~"$Hostname"'
    by = "{{Hostname}} GPU {{gpu}}"
    b.row("Utilisation")
    b.panel(
        "GPU utilisation", [(f"DCGM_FI_DEV_GPU_UTIL{{{h}}}", by)], unit="percent", max_value=100
    )
    b.panel(
        "Memory copy utilisation",
        [(f"DCGM_FI_DEV_MEM_COPY_UTIL{{{h}}}", by)],
        unit="percent",
        max_value=100,
    )
    b.panel(
        "Framebuffer used",
        [
            (
                f"DCGM_FI_DEV_FB_USED{{{h}}} / (DCGM_FI_DEV_FB_USED{{{h}}} + DCGM_FI_DEV_FB_FREE{{{h}}})",
                by,
            )
        ],
        unit="percentunit",
        max_value=1,
        description="vLLM reserves --gpu-memory-utilization of it at start: high and flat is normal.",
    )
    b.panel(
        "Framebuffer used (MiB)", [(f"DCGM_FI_DEV_FB_USED{{{h}}}", by)], unit="mbytes", width=12
    )
    b.panel("SM clock", [(f"DCGM_FI_DEV_SM_CLOCK{{{h}}}", by)], unit="rotmhz", width=12)
    b.row("Power and temperature")
    b.panel("Power draw", [(f"DCGM_FI_DEV_POWER_USAGE{{{h}}}", by)], unit="watt")
    b.panel(
        "GPU temperature",
        [(f"DCGM_FI_DEV_GPU_TEMP{{{h}}}", by)],
        unit="celsius",
        thresholds=[(83, "red")],
    )
    b.panel("Memory temperature", [(f"DCGM_FI_DEV_MEMORY_TEMP{{{h}}}", by)], unit="celsius")
    b.panel(
        "Energy (W, from the counter)",
        [(f"rate(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{h}}}[$__rate_interval]) / 1000", by)],
        unit="watt",
        width=12,
    )
    b.panel(
        "Last XID error",
        [(f"max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS{{{h}}})", by)],
        kind="stat",
        width=12,
        thresholds=[(1, "red")],
        description="Non-zero: the driver reported an XID error (see nvidia-smi / dmesg).",
    )
    b.row("PCIe")
    b.panel(
        "PCIe throughput",
        [
            (f"rate(DCGM_FI_DEV_PCIE_TX_THROUGHPUT{{{h}}}[$__rate_interval])", "tx " + by),
            (f"rate(DCGM_FI_DEV_PCIE_RX_THROUGHPUT{{{h}}}[$__rate_interval])", "rx " + by),
        ],
        unit="KBs",
        width=12,
    )
    b.panel(
        "PCIe replays /s",
        [(f"rate(DCGM_FI_DEV_PCIE_REPLAY_COUNTER{{{h}}}[$__rate_interval])", by)],
        width=12,
    )
    return b


BOARDS = {"ragserve.json": ragserve, "vllm.json": vllm, "gpu.json": gpu}


def render(name: str) -> str:
    return json.dumps(BOARDS[name]().json(), indent=2) + "\n"


def main() -> None:
    for name in BOARDS:
        (HERE / name).write_text(render(name))


if __name__ == "__main__":
    main()
