"""The load generator: fixed concurrency or Poisson arrivals, and a client that times itself.

A Python client can be the bottleneck (vLLM #39963, GuideLLM #136): an event loop that is
late to read a chunk reports server time that was really client time. ``ClientMonitor``
measures the loop's lag and the process's CPU while a level runs; results are marked
``client_bound`` when either says the client could not keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ragserve.bench.metrics import RequestRecord
from ragserve.errors import BackendProtocolError
from ragserve.openai_http import auth_headers
from ragserve.sse import DONE, parse_sse_line

Messages = list[dict[str, str]]

#: Loop lag (p99) or CPU share above which the client, not the server, limited a level.
MAX_LAG_S = 0.010
MAX_CPU = 0.90


@dataclass(frozen=True)
class ChatTarget:
    base_url: str
    model: str
    api_key: str | None = None
    max_tokens: int = 128
    ignore_eos: bool = False
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.model} @ {self.base_url}"


def new_client(connections: int, timeout_s: float = 600) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=30), limits=limits)


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.HTTPError):
        return "stream"
    if isinstance(exc, BackendProtocolError):
        return "malformed"
    return type(exc).__name__


async def chat_request(
    http: httpx.AsyncClient, target: ChatTarget, messages: Messages
) -> RequestRecord:
    """One streamed chat completion, timed on the client's clock."""
    body: dict[str, Any] = {
        "model": target.model,
        "messages": messages,
        "max_tokens": target.max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if target.ignore_eos:
        body["ignore_eos"] = True  # vLLM and llama.cpp: generate exactly max_tokens
    record = RequestRecord(t0=time.perf_counter())
    url = f"{target.base_url.rstrip('/')}/chat/completions"
    try:
        async with http.stream(
            "POST", url, json=body, headers=auth_headers(target.api_key)
        ) as response:
            if response.status_code != 200:
                await response.aread()
                code = response.status_code
                record.error = (
                    f"http_{code}" if code in (429, 404, 401, 400) else f"http_{code // 100}xx"
                )
                return record
            finished = False
            async for line in response.aiter_lines():
                event = parse_sse_line(line, url)
                if event is None:
                    continue
                if event is DONE:
                    finished = True
                    break
                assert isinstance(event, dict)
                now = time.perf_counter() - record.t0
                if "error" in event:
                    record.error = "server_error"
                    return record
                if usage := event.get("usage"):
                    record.usage_tokens = usage.get("completion_tokens")
                    record.prompt_tokens = usage.get("prompt_tokens")
                for choice in event.get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        if record.ttft is None:
                            record.ttft = now
                        record.chunk_times.append(now)
                        record.output_tokens += 1
            if not finished:
                record.error = "stream_cut"
                return record
    except Exception as exc:  # every failure is counted by kind, none ends the run
        record.error = _error_kind(exc)
        return record
    record.e2e = time.perf_counter() - record.t0
    return record


@dataclass
class ClientMonitor:
    """Event-loop lag and CPU share of this process while a level runs."""

    interval: float = 0.005
    lags: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _cpu0: float = 0.0
    _wall0: float = 0.0
    cpu_share: float = 0.0

    async def _watch(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - start - self.interval))

    def start(self) -> None:
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> dict[str, object]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        wall = time.perf_counter() - self._wall0
        self.cpu_share = (time.process_time() - self._cpu0) / wall if wall else 0.0
        lags = sorted(self.lags) or [0.0]
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        bound = p99 > MAX_LAG_S or self.cpu_share > MAX_CPU
        return {
            "loop_lag_p99_s": p99,
            "loop_lag_max_s": lags[-1],
            "cpu_share": self.cpu_share,
            "client_bound": bound,
        }


async def run_concurrency(
    send: Callable[[int], Coroutine[Any, Any, RequestRecord]],
    concurrency: int,
    requests: int | None,
    duration: float | None,
) -> tuple[list[RequestRecord], float]:
    """``concurrency`` workers send back to back until ``requests`` or ``duration``."""
    records: list[RequestRecord] = []
    counter = iter(range(10**12))
    deadline = time.perf_counter() + duration if duration else None
    started = time.perf_counter()

    async def worker() -> None:
        while True:
            i = next(counter)
            if requests is not None and i >= requests:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            records.append(await send(i))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records, time.perf_counter() - started


async def run_rate(
    send: Callable[[int], Coroutine[Any, Any, RequestRecord]],
    rate: float,
    requests: int | None,
    duration: float | None,
    burstiness: float = 1.0,
    seed: int = 0,
) -> tuple[list[RequestRecord], float]:
    """Open-loop arrivals: gamma-distributed gaps with mean 1/rate (burstiness 1 = Poisson,
    lower = burstier), as `vllm bench serve --burstiness`."""
    rng = random.Random(seed)
    tasks: list[asyncio.Task[RequestRecord]] = []
    started = time.perf_counter()
    i = 0
    next_at = started
    while True:
        if requests is not None and i >= requests:
            break
        if duration is not None and next_at - started >= duration:
            break
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
        i += 1
        next_at += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    records = list(await asyncio.gather(*tasks))
    return records, time.perf_counter() - started


def prompt_cycle(prompts: Sequence[Messages]) -> Callable[[int], Messages]:
    return lambda i: prompts[i % len(prompts)]
