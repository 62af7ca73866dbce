"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ragserve.config import Settings

OUT = Path(__file__).resolve().parent / "out"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean())}  # fmt: skip


def save(name: str, data: dict[str, object]) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    data = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M"), **data}
    path.write_text(json.dumps(data, indent=2))
    return path


def embed_rate(settings: Settings, texts: list[str], batch: int) -> float:
    """Passages/s of the bare embedder with batches of exactly ``batch`` texts (warmed up)."""
    # Imported here: vector_search uses this module on machines without the embedder stack.
    from ragserve.embed.registry import build_embedder

    embedder = build_embedder(settings.model_copy(
        update={"embed_max_batch": batch, "embed_batch_tokens": 1 << 20}
    ))  # fmt: skip
    embedder.embed_passages(texts[:64])
    started = time.perf_counter()
    embedder.embed_passages(texts)
    return len(texts) / (time.perf_counter() - started)
