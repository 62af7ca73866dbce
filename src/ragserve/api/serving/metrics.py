"""``/metrics``: recorded histograms and counters plus the live state, read at scrape time.

Backend health has two sources: the circuit breakers (real traffic failing) and the readiness
probes (``/models`` answering), which a scrape starts in the background when they are older
than a few seconds — so a dead backend shows as down even when no question is asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ragserve.api.serving.health import Readiness
from ragserve.breaker import BreakerState
from ragserve.embed.request_merging import MergingEmbedder
from ragserve.ingest.service import IngestService
from ragserve.llm.chain import ChatChain
from ragserve.observability.metrics import new_registry
from ragserve.store.catalog import Catalog
from ragserve.store.tables import DocumentStatus


class LiveState(Collector):
    """Gauges of what the server holds right now; the names predate prometheus-client."""

    def __init__(
        self,
        ingest: IngestService,
        embedder: MergingEmbedder,
        chain: ChatChain,
        catalog: Catalog,
        readiness: Readiness,
    ) -> None:
        self.ingest = ingest
        self.embedder = embedder
        self.chain = chain
        self.catalog = catalog
        self.readiness = readiness

    def collect(self) -> Iterator[Metric]:
        status = self.ingest.status()
        for name, value, text in [
            ("ragserve_ingest_queued", status.queued, "Documents waiting to be indexed."),
            ("ragserve_ingest_indexing", status.indexing, "Documents being indexed now."),
            ("ragserve_ingest_capacity", status.capacity, "Most documents queued at once."),
            ("ragserve_ingest_queue_fraction", round(status.queue_fraction, 4),
             "Documents queued or indexing over the capacity (1 = uploads get 429)."),
            ("ragserve_ingest_chunks_per_second", round(status.chunks_per_s, 3),
             "Chunks indexed per second, recent average."),
            ("ragserve_embed_queue", self.embedder.queued, "Embedding requests waiting."),
        ]:  # fmt: skip
            yield GaugeMetricFamily(name, text, value=value)
        yield CounterMetricFamily(
            "ragserve_embed_texts", "Texts embedded.", value=self.embedder.texts_embedded
        )
        yield from self.ingest.extra_metrics()
        documents = GaugeMetricFamily(
            "ragserve_documents", "Documents by status, over every collection.", labels=["status"]
        )
        counts = self.catalog.documents.count_by_status()
        for state in DocumentStatus:
            documents.add_metric([state.value], counts.get(state.value, 0))
        yield documents
        up = GaugeMetricFamily(
            "ragserve_backend_up",
            "0 when the backend's circuit is open or its latest health probe failed, else 1.",
            labels=["backend", "role"],
        )
        reachable = GaugeMetricFamily(
            "ragserve_backend_reachable",
            "1 if the backend answered its latest health probe (GET /models), else 0.",
            labels=["backend", "role"],
        )
        probe_age = GaugeMetricFamily(
            "ragserve_backend_probe_age_seconds",
            "Seconds since the backend's latest health probe finished.",
            labels=["backend", "role"],
        )
        probes = self.readiness.backends()
        now = time.monotonic()
        failures = CounterMetricFamily(
            "ragserve_backend_failures", "Failed calls.", labels=["backend", "role"]
        )
        successes = CounterMetricFamily(
            "ragserve_backend_successes", "Successful calls.", labels=["backend", "role"]
        )
        for member in self.chain.members:
            breaker = member.breaker
            probe = probes.get(member.name)
            healthy = breaker.state is not BreakerState.open and (probe is None or probe.ok)
            up.add_metric([member.name, "chat"], 1 if healthy else 0)
            if probe is not None:
                reachable.add_metric([member.name, "chat"], 1 if probe.ok else 0)
                probe_age.add_metric([member.name, "chat"], round(now - probe.at, 3))
            failures.add_metric([member.name, "chat"], breaker.total_failures)
            successes.add_metric([member.name, "chat"], breaker.total_successes)
        replicas = getattr(self.embedder.inner, "health", None)
        for replica in replicas() if replicas is not None else []:
            name = str(replica["name"])
            up.add_metric([name, "embeddings"], 0 if replica["state"] == "open" else 1)
            failures.add_metric([name, "embeddings"], float(replica["failures"]))
        yield from (up, reachable, probe_age, failures, successes)


class MetricsServing:
    def __init__(
        self,
        ingest: IngestService,
        embedder: MergingEmbedder,
        chain: ChatChain,
        catalog: Catalog,
        readiness: Readiness,
    ) -> None:
        self.readiness = readiness
        self.registry = new_registry(LiveState(ingest, embedder, chain, catalog, readiness))

    content_type = CONTENT_TYPE_LATEST

    async def render(self) -> bytes:
        """The text format; starts a backend probe when the last one is stale (not waited
        for: this scrape reports the previous results, the next one the new)."""
        self.readiness.refresh_backends()
        # Reading live state touches SQL: off the event loop.
        return await asyncio.to_thread(generate_latest, self.registry)
