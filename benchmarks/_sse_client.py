"""Timing streamed answers from the client's side: time to first token, completion, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx


@dataclass
class StreamResult:
    ok: bool
    ttft_ms: float | None
    total_ms: float
    error: str | None = None
    server_timings: dict[str, float] | None = None  # /api/chat's own account, from `done`


async def timed_stream(
    http: httpx.AsyncClient, url: str, body: Mapping[str, object], kind: str
) -> StreamResult:
    """POST ``body`` and read the SSE stream. ``kind``: ``api`` (/api/chat) or ``openai``."""
    t0 = time.perf_counter()
    ttft: float | None = None
    event = "message"
    finished = False
    timings: dict[str, float] | None = None
    try:
        async with http.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return StreamResult(False, None, 0, f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    continue
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if kind == "api":
                    if event == "token" and ttft is None:
                        ttft = (time.perf_counter() - t0) * 1000
                    elif event == "error":
                        return StreamResult(False, ttft, 0, data)
                    elif event == "done":
                        finished = True
                        timings = json.loads(data).get("timings")
                else:
                    if data == "[DONE]":
                        finished = True
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        return StreamResult(False, ttft, 0, data)
                    choices = chunk.get("choices") or []
                    if ttft is None and choices and (choices[0].get("delta") or {}).get("content"):
                        ttft = (time.perf_counter() - t0) * 1000
                event = "message"
    except httpx.HTTPError as exc:
        return StreamResult(False, ttft, 0, f"{type(exc).__name__}: {exc}")
    total = (time.perf_counter() - t0) * 1000
    if not finished:
        return StreamResult(False, ttft, total, "stream ended early")
    return StreamResult(True, ttft, total, server_timings=timings)
