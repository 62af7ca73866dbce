"""Reading OpenAI-style Server-Sent Events: ``data: {...}`` lines ending in ``data: [DONE]``."""

from __future__ import annotations

import json
from typing import Any

from ragserve.errors import BackendProtocolError

DONE = object()


def parse_sse_line(line: str, url: str) -> dict[str, Any] | object | None:
    """One SSE line: a JSON event, ``DONE``, or None for comments, blanks and other fields."""
    line = line.strip()
    if not line or line.startswith(":") or not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return DONE
    try:
        event = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BackendProtocolError(f"malformed SSE data: {data[:120]!r}", url) from exc
    if not isinstance(event, dict):
        raise BackendProtocolError(f"SSE data is not an object: {data[:120]!r}", url)
    return event
