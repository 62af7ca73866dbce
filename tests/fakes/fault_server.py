"""A scripted OpenAI-compatible server for faults real servers cannot be told to produce.

The requested ``model`` picks the behaviour, so one server covers every case:
``ok``, ``stall-first`` (no first token), ``stall-mid`` (stops after two tokens),
``cut`` (connection dropped mid-stream), ``malformed`` (bad SSE), ``http-401``, ``http-503``,
``cite`` (a fixed answer with ``[n]`` markers), ``paced-N-MS`` (N tokens, one every MS ms),
``say:TEXT`` (answers TEXT).
Embeddings: ``flaky-N`` fails N times with 503 and then answers.
``timed-F-G-N-K[-errP]``: first chunk after F ms, then one chunk every G ms, N chunks of
K tokens each, ``usage`` at the end when asked for; with ``-errP`` every (100/P)th request
gets a 503 — the known schedule the benchmark's metrics are checked against.
``stream: false`` gets one JSON completion instead of SSE.
``slots-K-MS``: a server with K generation slots; each answer holds one for MS ms, so
time to first token grows once more than K requests are in flight.
``random-P``: P % of requests get a random fault (503, stall-first, stall-mid, cut, malformed).
``gone`` records each stream whose client left before its end: (model, chunks sent).
Server-wide switches: ``required_key`` (401 without it), ``disabled`` (routes answering 404,
as a server of the other kind does), ``served`` (the model ids /models lists).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


class FaultServer:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.calls: Counter[str] = Counter()
        self.required_key: str | None = None
        self.disabled: set[str] = set()
        self.served = ["ok"]
        self.rng = random.Random(0)
        self.slots: dict[str, asyncio.Semaphore] = {}
        self.app = Starlette(routes=[
            Route("/v1/models", self.models),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            # Ollama's native API, for the context window it really uses.
            Route("/api/ps", self.ollama_ps),
            Route("/api/show", self.ollama_show, methods=["POST"]),
        ])  # fmt: skip
        self.ollama_num_ctx: int | None = 2048
        self.gone: list[tuple[str, int]] = []

    def _refuse(self, request: Request, route: str) -> Response | None:
        if route in self.disabled:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if (
            self.required_key
            and request.headers.get("authorization") != f"Bearer {self.required_key}"
        ):
            return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
        return None

    async def models(self, request: Request) -> Response:
        if refused := self._refuse(request, "models"):
            return refused
        return JSONResponse({"object": "list", "data": [
            {"id": m, "object": "model", "max_model_len": 2048} for m in self.served
        ]})  # fmt: skip

    async def ollama_ps(self, request: Request) -> Response:
        return JSONResponse({"models": []})  # nothing loaded yet

    async def ollama_show(self, request: Request) -> Response:
        params = f"num_ctx {self.ollama_num_ctx}" if self.ollama_num_ctx else ""
        return JSONResponse({"parameters": params, "model_info": {}})

    async def chat(self, request: Request) -> Response:
        if refused := self._refuse(request, "chat"):
            return refused
        self.headers.append(dict(request.headers))
        body = await request.json()
        model = body["model"]
        self.calls[model] += 1
        if model.startswith("random-"):
            faults = ["http-503", "stall-first", "stall-mid", "cut", "malformed"]
            hit = self.rng.random() * 100 < int(model.split("-")[1])
            model = self.rng.choice(faults) if hit else "ok"
            self.calls[f"random:{model}"] += 1
        first_delay, per_chunk = 0.0, 1
        if model.startswith("timed-"):
            parts = model.split("-")
            first_ms, _gap_ms, count, per_chunk = (int(x) for x in parts[1:5])
            if len(parts) > 5 and self.calls[model] % (100 // int(parts[5][3:])) == 0:
                model = "http-503"
            else:
                first_delay = first_ms / 1000
                words = [" tok" * per_chunk for _ in range(count)]
        if model.startswith("http-"):
            status = int(model.split("-")[1])
            return JSONResponse({"error": {"message": f"scripted {status}"}}, status_code=status)
        if model.startswith("slots-"):
            _, k, ms = model.split("-")
            slot = self.slots.setdefault(model, asyncio.Semaphore(int(k)))

            async def queued() -> AsyncIterator[bytes]:
                async with slot:
                    for _ in range(2):
                        chunk = {"choices": [{"index": 0, "delta": {"content": " ok"}}]}
                        yield f"data: {json.dumps(chunk)}\n\n".encode()
                        await asyncio.sleep(int(ms) / 2000)
                yield b"data: [DONE]\n\n"

            return StreamingResponse(queued(), media_type="text/event-stream")

        if not model.startswith("timed-"):
            words = ["Hello", " from", " the", " fault", " server."]
        if model == "cite":  # an answer citing sources 2 and 1 the way a good model does
            words = ["Vacation", " is", " 25", " days [2].", " Ask", " HR [1][7]."]
        if model.startswith("say:"):  # exactly the answer the test scripted, word by word
            words = [f" {w}" if i else w for i, w in enumerate(model[4:].split(" "))]

        pace = 0.0
        if model.startswith("paced-"):
            _, count_s, ms = model.split("-")
            words, pace = [f" w{i}" for i in range(int(count_s))], int(ms) / 1000
        if model.startswith("timed-"):
            pace = int(model.split("-")[2]) / 1000
        tokens = len(words) * per_chunk
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if body.get("stream") is not True:  # a whole completion, as batch clients ask
            await asyncio.sleep(first_delay + pace * max(0, len(words) - 1))
            return JSONResponse({
                "id": "cmpl-1", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(words)}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": tokens,
                          "total_tokens": 5 + tokens},
            })  # fmt: skip

        async def events() -> AsyncIterator[bytes]:
            sent = 0
            try:
                async for chunk in scripted():
                    yield chunk
                    sent += 1
            except (asyncio.CancelledError, GeneratorExit, OSError):
                self.gone.append((model, sent))  # the client went away mid-stream
                raise

        async def scripted() -> AsyncIterator[bytes]:
            if model == "stall-first":
                await asyncio.sleep(30)
            if first_delay:
                await asyncio.sleep(first_delay)
            for i, word in enumerate(words):
                if model == "stall-mid" and i == 2:
                    await asyncio.sleep(30)
                if model == "cut" and i == 2:
                    raise ConnectionResetError("scripted cut")
                if model == "malformed" and i == 1:
                    yield b"data: {not json\n\n"
                if pace and not (first_delay and i == 0):
                    await asyncio.sleep(pace)
                chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            if include_usage:
                usage = {
                    "prompt_tokens": 5,
                    "completion_tokens": tokens,
                    "total_tokens": 5 + tokens,
                }
                yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        if refused := self._refuse(request, "embeddings"):
            return refused
        self.headers.append(dict(request.headers))
        body = await request.json()
        model: str = body["model"]
        self.calls[model] += 1
        if model.startswith("flaky-") and self.calls[model] <= int(model.split("-")[1]):
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if model == "http-404":
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        # Index-based vectors: enough to check ordering and batching, never used for search.
        data = [{"index": i, "embedding": [float(i + 1), 1.0, 0.0]} for i in range(len(inputs))]
        return JSONResponse({"data": data[::-1], "model": model})


@contextmanager
def running_fault_server() -> Iterator[tuple[str, FaultServer]]:
    """Start the fault server on a free loopback port; yields its ``/v1`` base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fault = FaultServer()
    config = uvicorn.Config(fault.app, host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", fault
    finally:
        server.should_exit = True
        thread.join(5)


def main() -> None:
    """Run it as its own process: ``python -m tests.fakes.fault_server PORT``."""
    import sys

    port = int(sys.argv[1])
    uvicorn.run(FaultServer().app, host="127.0.0.1", port=port, log_level="error", backlog=4096)


if __name__ == "__main__":
    main()
