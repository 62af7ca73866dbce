"""Prometheus metrics recorded where the work happens, and the registry ``/metrics`` reads.

Histograms and counters live here, module-level, created with ``registry=None`` and recorded
by the code doing the work (the HTTP middleware, the chat chain). Each app builds its own
:class:`CollectorRegistry` from them plus a collector of its live state (queues, circuits),
so two apps in one process (tests) never clash over registration.

Buckets are chosen for LLM serving, in seconds, so that the quantiles an operator alerts on
fall inside a bucket rather than in the +Inf one:
- time to first token: 25 ms (a warm local model) to 80 s (a cold, queued large model); a
  TTFT SLO of 0.5, 1, 2.5 or 5 s sits on a bucket edge, so the alert's p99 is not smeared;
- inter-token latency: 5 ms (a fast GPU, ~200 tokens/s) to 1 s (a stalled or CPU-bound
  stream); dense between 20 and 100 ms, where chat models on one GPU live;
- end-to-end: 250 ms to about 10 minutes (the default total timeout);
- HTTP requests: 5 ms to 60 s (uploads and non-streamed answers are the slow end);
- retrieval (query embedding, vector search, and a reranker once there is one): 1 ms to 5 s;
- embedding queue time: 0.5 ms (the batcher's merge delay is 2 ms) to 10 s (questions stuck
  behind a long ingest would show here first);
- tokens per answer: powers of two from 16 to 32,768 (the longest context windows);
- texts per embedding batch: powers of two up to 256 (``RAGSERVE_EMBED_MAX_BATCH`` is 128).

Live state (queues, circuits, documents by status) is read at scrape time by
``api/serving/metrics.py``; everything here is recorded as the work happens.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)
ITL_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
E2E_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
QUEUE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
TOKEN_BUCKETS = tuple(float(2**n) for n in range(4, 16))  # 16 ... 32,768
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)

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

RETRIEVAL_LATENCY = Histogram(
    "ragserve_retrieval_duration_seconds",
    "Time of one retrieval stage per question: embed (the query), search (the vector store), "
    "rerank (when a reranker is configured).",
    ["stage"],
    buckets=RETRIEVAL_BUCKETS,
    registry=None,
)
RERANK_OUTCOMES = Counter(
    "ragserve_rerank",
    "Queries through a reranker, by kind and outcome: reranked, or kept in retrieval order "
    "because the LLM's output did not parse (fallback_unparsable), its time ran out "
    "(fallback_timeout) or the chat backend failed (fallback_error).",
    ["kind", "outcome"],
    registry=None,
)
PROMPT_TOKENS = Histogram(
    "ragserve_answer_prompt_tokens",
    "Prompt tokens per answer: the chat server's count, else counted with the embedding "
    "tokenizer. rate(_sum) is prompt tokens per second.",
    buckets=TOKEN_BUCKETS,
    registry=None,
)
COMPLETION_TOKENS = Histogram(
    "ragserve_answer_completion_tokens",
    "Completion tokens per answer (as the prompt tokens are counted).",
    buckets=TOKEN_BUCKETS,
    registry=None,
)
EMBED_BATCH_SIZE = Histogram(
    "ragserve_embed_batch_size",
    "Texts per embedding model call after merging concurrent requests, by kind.",
    ["kind"],
    buckets=BATCH_BUCKETS,
    registry=None,
)
EMBED_QUEUE_TIME = Histogram(
    "ragserve_embed_queue_seconds",
    "From an embedding request entering the batcher to its model call starting, by priority.",
    ["priority"],
    buckets=QUEUE_BUCKETS,
    registry=None,
)
EMBED_TOKENIZE_TIME = Histogram(
    "ragserve_embed_tokenize_seconds",
    "Tokenising one embedding request before it is queued (GPU pipeline only).",
    buckets=QUEUE_BUCKETS,
    registry=None,
)
EMBED_BATCH_LATENCY = Histogram(
    "ragserve_embed_batch_duration_seconds",
    "Time of one embedding model call (one merged batch), by kind.",
    ["kind"],
    buckets=RETRIEVAL_BUCKETS,
    registry=None,
)

#: Label values that exist before anything is recorded, so dashboards and alerts see a
#: series (at zero) on a fresh server instead of "no data".
for _stage in ("embed", "search", "rerank"):
    RETRIEVAL_LATENCY.labels(_stage)
for _kind in ("query", "passage"):
    EMBED_BATCH_SIZE.labels(_kind)
    EMBED_BATCH_LATENCY.labels(_kind)
for _priority in ("interactive", "background", "bulk"):
    EMBED_QUEUE_TIME.labels(_priority)

RECORDED: tuple[Collector, ...] = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    CHAT_TTFT,
    CHAT_ITL,
    CHAT_E2E,
    CHAT_FAILOVERS,
    RETRIEVAL_LATENCY,
    RERANK_OUTCOMES,
    PROMPT_TOKENS,
    COMPLETION_TOKENS,
    EMBED_BATCH_SIZE,
    EMBED_QUEUE_TIME,
    EMBED_TOKENIZE_TIME,
    EMBED_BATCH_LATENCY,
)


def new_registry(*live: Collector) -> CollectorRegistry:
    """A registry of the recorded metrics plus ``live`` collectors read at scrape time."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in (*RECORDED, *live):
        registry.register(collector)
    return registry
