"""``/metrics``: recorded histograms and counters plus the live state, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ragserve.breaker import BreakerState
from ragserve.embed.request_merging import MergingEmbedder
from ragserve.ingest.service import IngestService
from ragserve.llm.chain import ChatChain
from ragserve.observability.metrics import new_registry


class LiveState(Collector):
    """Gauges of what the server holds right now; the names predate prometheus-client."""

    def __init__(self, ingest: IngestService, embedder: MergingEmbedder, chain: ChatChain) -> None:
        self.ingest = ingest
        self.embedder = embedder
        self.chain = chain

    def collect(self) -> Iterator[Metric]:
        status = self.ingest.status()
        for name, value, text in [
            ("ragserve_ingest_queued", status.queued, "Documents waiting to be indexed."),
            ("ragserve_ingest_indexing", status.indexing, "Documents being indexed now."),
            ("ragserve_ingest_capacity", status.capacity, "Most documents queued at once."),
            ("ragserve_ingest_chunks_per_second", round(status.chunks_per_s, 3),
             "Chunks indexed per second, recent average."),
            ("ragserve_embed_queue", self.embedder.queued, "Embedding requests waiting."),
        ]:  # fmt: skip
            yield GaugeMetricFamily(name, text, value=value)
        yield CounterMetricFamily(
            "ragserve_embed_texts", "Texts embedded.", value=self.embedder.texts_embedded
        )
        up = GaugeMetricFamily(
            "ragserve_backend_up",
            "1 unless the backend's circuit is open.",
            labels=["backend", "role"],
        )
        failures = CounterMetricFamily(
            "ragserve_backend_failures", "Failed calls.", labels=["backend", "role"]
        )
        successes = CounterMetricFamily(
            "ragserve_backend_successes", "Successful calls.", labels=["backend", "role"]
        )
        for member in self.chain.members:
            breaker = member.breaker
            up.add_metric([member.name, "chat"], 0 if breaker.state is BreakerState.open else 1)
            failures.add_metric([member.name, "chat"], breaker.total_failures)
            successes.add_metric([member.name, "chat"], breaker.total_successes)
        replicas = getattr(self.embedder.inner, "health", None)
        for replica in replicas() if replicas is not None else []:
            name = str(replica["name"])
            up.add_metric([name, "embeddings"], 0 if replica["state"] == "open" else 1)
            failures.add_metric([name, "embeddings"], float(replica["failures"]))
        yield from (up, failures, successes)


class MetricsServing:
    def __init__(self, ingest: IngestService, embedder: MergingEmbedder, chain: ChatChain) -> None:
        self.registry = new_registry(LiveState(ingest, embedder, chain))

    content_type = CONTENT_TYPE_LATEST

    def render(self) -> bytes:
        return generate_latest(self.registry)
