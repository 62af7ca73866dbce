"""`ragserve batch IN.jsonl OUT.jsonl`: OpenAI batch files against any compatible server.

Input lines: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions" or
"/v1/embeddings", "body"}``; output lines: ``{"id", "custom_id", "response": {"status_code",
"body"}, "error"}``, as OpenAI's Batch API writes them.

Resumable: on start, the output file is read back; lines that succeeded are kept and their
ids skipped, anything else (failures, a half-written last line) is dropped and sent again.
So an interrupted run, resumed, leaves each id in the output exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ragserve.errors import ConfigError
from ragserve.jsonl import jsonl_rows
from ragserve.observability import tracing
from ragserve.openai_http import auth_headers

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


@dataclass
class BatchTotals:
    total: int = 0
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


def read_requests(path: Path) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, row in jsonl_rows(path):
        cid = row.get("custom_id")
        if not cid or "body" not in row:
            raise ConfigError(f"{path}:{n}: needs `custom_id` and `body`")
        if cid in seen:
            raise ConfigError(f"{path}:{n}: custom_id {cid!r} appears twice")
        if row.get("url", "/v1/chat/completions") not in ("/v1/chat/completions", "/v1/embeddings"):
            raise ConfigError(f"{path}:{n}: url must be /v1/chat/completions or /v1/embeddings")
        seen.add(cid)
        requests.append(row)
    return requests


def keep_done(out: Path) -> set[str]:
    """Rewrite ``out`` with only its successful lines; return their ids."""
    if not out.exists():
        return set()
    kept: list[str] = []
    done: set[str] = set()
    for line in out.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the interruption
        response = row.get("response") or {}
        cid = row.get("custom_id")
        if cid and cid not in done and 200 <= int(response.get("status_code") or 0) < 300:
            done.add(cid)
            kept.append(line)
    temp = out.with_suffix(out.suffix + ".tmp")
    temp.write_text("".join(f"{line}\n" for line in kept))
    os.replace(temp, out)
    return done


def _endpoint(base_url: str, url: str) -> str:
    base = base_url.rstrip("/")
    path = url.removeprefix("/v1") if base.endswith("/v1") else url
    return base + path


async def run_batch(
    requests: list[dict[str, Any]],
    out: Path,
    base_url: str,
    *,
    api_key: str | None = None,
    concurrency: int = 8,
    max_retries: int = 5,
    timeout_s: float = 600.0,
    on_done: Callable[[bool], None] = lambda _ok: None,
) -> BatchTotals:
    """Send every request not already done; append each result as it completes."""
    totals = BatchTotals(total=len(requests))
    started = time.perf_counter()
    done = keep_done(out)
    todo = [r for r in requests if r["custom_id"] not in done]
    totals.skipped = len(requests) - len(todo)
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with out.open("a") as sink:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=30), limits=limits,
            headers=auth_headers(api_key),
        ) as http:  # fmt: skip

            async def one(row: dict[str, Any]) -> None:
                async with semaphore:
                    with _traced(row, base_url) as gen:
                        status, body, error = await _send(http, row, base_url, max_retries, totals)
                        tracing.record_response(
                            gen, row["body"].get("model"), status, body or error
                        )
                line = {
                    "id": f"batch_req_{uuid.uuid4().hex}",
                    "custom_id": row["custom_id"],
                    "response": None if status is None else {
                        "status_code": status, "request_id": uuid.uuid4().hex, "body": body},
                    "error": error,
                }  # fmt: skip
                ok = status is not None and 200 <= status < 300
                if ok:
                    totals.succeeded += 1
                    usage = (body or {}).get("usage") or {}
                    totals.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                    totals.completion_tokens += int(usage.get("completion_tokens") or 0)
                else:
                    totals.failed += 1
                    kind = (error or {}).get("code") or f"http_{status}"
                    totals.errors[kind] = totals.errors.get(kind, 0) + 1
                sink.write(json.dumps(line) + "\n")
                sink.flush()  # a crash loses at most the lines being written
                on_done(ok)

            await asyncio.gather(*(one(r) for r in todo))
    totals.elapsed_s = time.perf_counter() - started
    return totals


def _traced(row: dict[str, Any], base_url: str) -> AbstractContextManager[tracing.Generation]:
    """One trace per request line (its ``custom_id`` on the root span)."""
    url = row.get("url", "/v1/chat/completions")
    operation = "embeddings" if url.endswith("/embeddings") else "chat"
    body = row["body"]
    return tracing.request_trace(
        "batch request", body.get("model"), base_url, operation, body.get("messages") or (),
        ragserve__custom_id=row["custom_id"],
    )  # fmt: skip


async def _send(
    http: httpx.AsyncClient,
    row: dict[str, Any],
    base_url: str,
    max_retries: int,
    totals: BatchTotals,
) -> tuple[int | None, dict[str, Any] | None, dict[str, str] | None]:
    url = _endpoint(base_url, row.get("url", "/v1/chat/completions"))
    body = dict(row["body"])
    body.pop("stream", None)  # batch results are whole responses
    for attempt in range(max_retries + 1):
        wait = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())
        try:
            response = await http.post(url, json=body)
        except httpx.HTTPError as exc:
            if attempt == max_retries:
                return (
                    None,
                    None,
                    {"code": "transport_error", "message": f"{type(exc).__name__}: {exc}"},
                )
        else:
            if response.status_code not in RETRYABLE or attempt == max_retries:
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = {"raw": response.text[:1000]}
                return response.status_code, parsed, None
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                wait = max(wait, float(retry_after))
        totals.retries += 1
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")
