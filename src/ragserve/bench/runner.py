"""Running load levels against one or more endpoints, and reading the results."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ragserve.bench.client import (
    ChatTarget,
    ClientMonitor,
    Messages,
    chat_request,
    new_client,
    run_concurrency,
    run_rate,
)
from ragserve.bench.metrics import RequestRecord, Slo, summarize

T = TypeVar("T")


@dataclass(frozen=True)
class LoadPlan:
    mode: str  # "concurrency" or "rate"
    levels: Sequence[float]
    requests: int | None = None
    duration: float | None = None
    warmup: int = 2
    burstiness: float = 1.0


async def run_level(
    target: ChatTarget,
    prompts: Callable[[int], Messages],
    plan: LoadPlan,
    level: float,
    slo: Slo,
) -> tuple[dict[str, object], list[RequestRecord]]:
    connections = int(level) + 8 if plan.mode == "concurrency" else 4096
    async with new_client(connections) as http:

        async def send(i: int) -> RequestRecord:
            return await chat_request(http, target, prompts(i))

        for i in range(plan.warmup):  # connections and server caches warm, not measured
            await send(10**9 + i)
        monitor = ClientMonitor()
        monitor.start()
        if plan.mode == "concurrency":
            records, wall = await run_concurrency(send, int(level), plan.requests, plan.duration)
        else:
            records, wall = await run_rate(
                send, level, plan.requests, plan.duration, plan.burstiness
            )
        client = await monitor.stop()
    summary = summarize(records, wall, slo)
    summary.update({"endpoint": target.name, "mode": plan.mode, "level": level, "client": client})
    return summary, records


def run_plan(
    targets: Sequence[ChatTarget],
    prompts: Callable[[int], Messages],
    plan: LoadPlan,
    slo: Slo,
    on_level: Callable[[dict[str, object]], None] = lambda _s: None,
) -> tuple[list[dict[str, object]], list[tuple[str, float, RequestRecord]]]:
    """Every level for every endpoint, in order; returns level summaries and all requests."""
    levels: list[dict[str, object]] = []
    rows: list[tuple[str, float, RequestRecord]] = []
    for target in targets:
        for level in plan.levels:
            summary, records = _run(run_level(target, prompts, plan, level, slo))
            levels.append(summary)
            rows += [(target.name, level, r) for r in records]
            on_level(summary)
    return levels, rows


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when installed: a faster loop is a client that limits less."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def capacity(levels: list[dict[str, object]], target: float = 0.95) -> dict[str, object]:
    """Per endpoint: the highest level whose SLO attainment is at least ``target``, and the
    knee — the first level where throughput grows < 10 % while median TTFT grows > 50 %."""
    out: dict[str, object] = {}
    for endpoint in dict.fromkeys(str(s["endpoint"]) for s in levels):
        rows = [s for s in levels if s["endpoint"] == endpoint]
        holding = [s for s in rows if float(s["slo_attainment"]) >= target]  # type: ignore[arg-type]
        holds = max((float(s["level"]) for s in holding), default=None)  # type: ignore[arg-type]
        knee = None
        for prev, cur in itertools.pairwise(rows):
            t0, t1 = float(prev["output_throughput"]), float(cur["output_throughput"])  # type: ignore[arg-type]
            f0 = prev["ttft"]["p50"]  # type: ignore[index]
            f1 = cur["ttft"]["p50"]  # type: ignore[index]
            if t0 and f0 and f1 and t1 < t0 * 1.10 and f1 > f0 * 1.5:
                knee = cur["level"]
                break
        out[endpoint] = {"holds": holds, "knee": knee, "slo_target": target}
    return out


def recommendation(cap: dict[str, object], mode: str, slo: Slo) -> list[str]:
    unit = "concurrent users" if mode == "concurrency" else "requests/s"
    lines = []
    for endpoint, c in cap.items():
        holds = c["holds"]  # type: ignore[index]
        knee = c["knee"]  # type: ignore[index]
        target = c["slo_target"]  # type: ignore[index]
        if holds is None:
            lines.append(
                f"{endpoint}: no tested level met the SLOs ({slo}) for {target:.0%} "
                "of requests; test lower load or relax the SLOs."
            )
        else:
            lines.append(
                f"{endpoint}: holds {holds:g} {unit} at {slo} "
                f"({target:.0%} of requests within every SLO)."
            )
        if knee is not None:
            lines.append(
                f"  queueing starts near {knee:g} {unit}: throughput stops growing "
                "while time to first token climbs."
            )
    return lines


def find_capacity(
    target: ChatTarget,
    prompts: Callable[[int], Messages],
    slo: Slo,
    *,
    requests_per_level: int = 20,
    slo_target: float = 0.95,
    max_level: int = 1024,
    on_level: Callable[[dict[str, object]], None] = lambda _s: None,
) -> tuple[list[dict[str, object]], int | None]:
    """The largest concurrency whose SLO attainment reaches ``slo_target``: double until a
    level misses, then bisect between the last one that held and the first that did not."""
    tried: dict[int, dict[str, object]] = {}

    def holds(level: int) -> bool:
        if level not in tried:
            plan = LoadPlan("concurrency", [level], requests=max(requests_per_level, 2 * level))
            summary, _ = _run(run_level(target, prompts, plan, level, slo))
            tried[level] = summary
            on_level(summary)
        return float(tried[level]["slo_attainment"]) >= slo_target  # type: ignore[arg-type]

    good, bad = 0, None
    level = 1
    while level <= max_level:
        if holds(level):
            good = level
            level *= 2
        else:
            bad = level
            break
    if bad is not None:
        while bad - good > 1:
            mid = (good + bad) // 2
            if holds(mid):
                good = mid
            else:
                bad = mid
    levels = [tried[k] for k in sorted(tried)]
    return levels, good or None
