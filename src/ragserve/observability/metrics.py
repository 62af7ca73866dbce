"""Prometheus metrics recorded where the work happens, and the registry ``/metrics`` reads.

Histograms and counters live here, module-level, created with ``registry=None`` and recorded
by the code doing the work (the HTTP middleware, the chat chain). Each app builds its own
:class:`CollectorRegistry` from them plus a collector of its live state (queues, circuits),
so two apps in one process (tests) never clash over registration.

Buckets are chosen for LLM serving, in seconds:
- time to first token: 25 ms (a warm local model) to 80 s (a cold, queued large model);
- inter-token latency: 5 ms (a fast GPU) to 1 s (a stalled or CPU-bound stream);
- end-to-end: 250 ms to about 10 minutes (the default total timeout);
- HTTP requests: 5 ms to 60 s (uploads and non-streamed answers are the slow end).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)
ITL_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
E2E_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "ragserve_http_requests",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=None,
)
HTTP_LATENCY = Histogram(
    "ragserve_http_request_duration_seconds",
    "Time to the end of the response (the whole stream for SSE), by method and route.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
    registry=None,
)
CHAT_TTFT = Histogram(
    "ragserve_chat_time_to_first_token_seconds",
    "From sending a chat request to a backend to its first streamed token.",
    ["backend"],
    buckets=TTFT_BUCKETS,
    registry=None,
)
CHAT_ITL = Histogram(
    "ragserve_chat_inter_token_latency_seconds",
    "Time between consecutive streamed tokens of one answer.",
    ["backend"],
    buckets=ITL_BUCKETS,
    registry=None,
)
CHAT_E2E = Histogram(
    "ragserve_chat_e2e_request_latency_seconds",
    "From sending a chat request to a backend to the end of its stream, by outcome.",
    ["backend", "outcome"],
    buckets=E2E_BUCKETS,
    registry=None,
)
CHAT_FAILOVERS = Counter(
    "ragserve_backend_failovers",
    "Chat requests moved past this backend to the next one in the chain.",
    ["backend"],
    registry=None,
)

RECORDED: tuple[Collector, ...] = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    CHAT_TTFT,
    CHAT_ITL,
    CHAT_E2E,
    CHAT_FAILOVERS,
)


def new_registry(*live: Collector) -> CollectorRegistry:
    """A registry of the recorded metrics plus ``live`` collectors read at scrape time."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in (*RECORDED, *live):
        registry.register(collector)
    return registry
