from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ragserve.api.deps import State
from ragserve.breaker import BreakerState
from ragserve.llm.fallback import FallbackChat

router = APIRouter(tags=["health"])


def _line(name: str, value: float, **labels: str) -> str:
    tags = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{tags}}} {value}" if tags else f"{name} {value}"


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(state: State) -> str:
    """Prometheus text format: ingestion queue, embedding queue, chat backend health."""
    status = state.ingest.status()
    lines = [
        "# TYPE ragserve_ingest_queued gauge",
        _line("ragserve_ingest_queued", status.queued),
        "# TYPE ragserve_ingest_indexing gauge",
        _line("ragserve_ingest_indexing", status.indexing),
        "# TYPE ragserve_ingest_capacity gauge",
        _line("ragserve_ingest_capacity", status.capacity),
        "# TYPE ragserve_ingest_chunks_per_second gauge",
        _line("ragserve_ingest_chunks_per_second", round(status.chunks_per_s, 3)),
        "# TYPE ragserve_embed_queue gauge",
        _line("ragserve_embed_queue", state.embedder.queued),
        "# TYPE ragserve_embed_texts_total counter",
        _line("ragserve_embed_texts_total", state.embedder.texts_embedded),
    ]
    chat = state.answers.chat
    if isinstance(chat, FallbackChat):
        lines += [
            "# TYPE ragserve_backend_up gauge",
            "# TYPE ragserve_backend_failures_total counter",
            "# TYPE ragserve_backend_successes_total counter",
        ]
        for member in chat.members:
            up = 0 if member.breaker.state is BreakerState.open else 1
            lines += [
                _line("ragserve_backend_up", up, backend=member.name, role="chat"),
                _line(
                    "ragserve_backend_failures_total",
                    member.breaker.total_failures,
                    backend=member.name,
                    role="chat",
                ),
                _line(
                    "ragserve_backend_successes_total",
                    member.breaker.total_successes,
                    backend=member.name,
                    role="chat",
                ),
            ]
    replicas = getattr(state.embedder.inner, "health", None)
    if replicas is not None:
        for replica in replicas():
            name = str(replica["name"])
            up = 0 if replica["state"] == BreakerState.open.value else 1
            lines += [
                _line("ragserve_backend_up", up, backend=name, role="embeddings"),
                _line(
                    "ragserve_backend_failures_total",
                    float(replica["failures"]),
                    backend=name,
                    role="embeddings",
                ),
            ]
    return "\n".join(lines) + "\n"
