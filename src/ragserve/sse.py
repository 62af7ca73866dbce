"""Server-Sent Events, both ways: framing what ragserve streams, and parsing what OpenAI-style
servers stream to it (``data: {...}`` lines ending in ``data: [DONE]``).

Used by the API (framing), the chat client, the probe and the bench client (parsing), and the
tests (reading ragserve's own named events).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.responses import StreamingResponse

from ragserve.errors import BackendProtocolError

#: Stop proxies (nginx, ingress controllers) from buffering a stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

DONE = object()


# -- framing -------------------------------------------------------------------------------
def event(name: str | None, data: Any) -> str:
    """One SSE event; ``data`` is sent as compact JSON unless it is already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n"


def sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


# -- parsing -------------------------------------------------------------------------------
def parse_sse_line(line: str, url: str) -> dict[str, Any] | object | None:
    """One line of an OpenAI-style stream: a JSON event, ``DONE``, or None for comments,
    blanks and other fields. Malformed data raises ``BackendProtocolError`` naming ``url``."""
    line = line.strip()
    if not line or line.startswith(":") or not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return DONE
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BackendProtocolError(f"malformed SSE data: {data[:120]!r}", url) from exc
    if not isinstance(parsed, dict):
        raise BackendProtocolError(f"SSE data is not an object: {data[:120]!r}", url)
    return parsed


def named_events(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(event name, raw data) pairs of a stream with named events, such as ``/api/chat``'s;
    events without a name are called ``message``, as browsers call them."""
    events: list[tuple[str, str]] = []
    name = "message"
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, line[5:].removeprefix(" ")))
            name = "message"
    return events
