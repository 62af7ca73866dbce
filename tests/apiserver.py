"""The real app on a real uvicorn server, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from ragserve.api.app import create_app
from ragserve.config import Settings
from ragserve.runtime import Runtime
from ragserve.sse import named_events


@contextmanager
def running_app(settings: Settings, runtime: Runtime | None = None) -> Iterator[str]:
    """Start ragserve on a free loopback port; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings, runtime), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("ragserve did not start; see the log above")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


def wait_for_documents(
    client: httpx.Client, collection: str, count: int, timeout: float = 120
) -> list[dict[str, object]]:
    """Poll until ``count`` documents are ready or failed; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        docs: list[dict[str, object]] = client.get(
            f"/api/collections/{collection}/documents"
        ).json()
        done = [d for d in docs if d["status"] in ("ready", "failed")]
        if len(done) >= count and len(done) == len(docs):
            return docs
        if time.monotonic() > deadline:
            raise AssertionError(f"documents not done in {timeout} s: {docs}")
        time.sleep(0.2)


def sse_events(response: httpx.Response) -> list[tuple[str, str]]:
    """(event, data) pairs of a streamed SSE response."""
    return named_events(response.iter_lines())
