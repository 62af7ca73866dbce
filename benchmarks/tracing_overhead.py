"""What tracing on costs a question: ``/api/chat`` with traces exported vs with tracing off.

Two ``ragserve serve`` processes over the same samples and the same scripted LLM (16 tokens,
one every 10 ms): one with tracing off (no LANGFUSE_* / OTEL_* set), one exporting every
question's trace (question → retrieval → generation) over OTLP/HTTP to a loopback receiver
that answers 200 — the real exporter, batching in the background. Rounds alternate between
the two servers so that drift in the shared 2-core machine hits both alike. Reported: TTFT
and end-to-end p50/p99 of each, the CPU time each server process spent per question (user +
system, all threads, the exporter's included: steadier than latency on a busy machine), and
the ratios on/off (baseline: tracing off, same run).

Latency on a shared 2-core machine moves by more than tracing costs, so the script also
measures that cost directly, in-process: one question's spans (question → retrieval →
generation of 64 streamed pieces, a 3 KB prompt and the answer as content), built with the
real helpers and exported over OTLP/HTTP to the receiver, repeated; the process's CPU time
(the exporter's thread included, flushed at the end) per question, tracing on minus off.

    python -m benchmarks.tracing_overhead [--levels 1,10] [--requests 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from benchmarks._common import machine, percentiles, save
from benchmarks._servers import ragserve, scripted_llm
from benchmarks._sse_client import StreamResult, timed_stream
from ragserve.observability import tracing
from ragserve.observability.tracing import Tracing

ROOT = Path(__file__).resolve().parent.parent
MODEL = "paced-16-10"
QUESTIONS = [
    "How many vacation days do Northwind employees get?",
    "How do I set up the VPN?",
    "What is the password policy?",
    "What do I do on my first day?",
    "What does the dental plan cover?",
]


class Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that takes every export (counts its bytes) and answers 200."""

    posts = 0
    bytes = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.posts += 1
        Receiver.bytes += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def level(http: httpx.AsyncClient, url: str, concurrency: int, n: int) -> list[StreamResult]:
    todo = list(range(n))
    results: list[StreamResult] = []

    async def worker() -> None:
        while todo:
            i = todo.pop()
            body = {"message": QUESTIONS[i % len(QUESTIONS)], "collection": "bench"}
            results.append(await timed_stream(http, f"{url}/api/chat", body, "api"))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def _one_question(pieces: int, prompt: list[dict[str, object]]) -> None:
    @tracing.traced("retrieval", "retriever")
    async def retrieve() -> None:
        tracing.annotate(ragserve__top_k=5, ragserve__hits=5)

    @tracing.traced_question
    async def answer(question: str, collection: str, session_id: str) -> AsyncIterator[str]:
        await retrieve()
        gen = tracing.generation("vllm", "Qwen/Qwen2.5-7B-Instruct", "http://vllm:8000/v1", prompt)
        for i in range(pieces):
            if i == 0:
                gen.first_token()
            gen.add(" token")
            yield " token"
        gen.finish("Qwen/Qwen2.5-7B-Instruct", 800, pieces)

    async for _ in answer("How many vacation days?", "team", "conversation-1"):
        pass


def cost_per_question(otlp: str, n: int = 2000) -> dict[str, float]:
    """CPU µs per question that tracing adds, measured in this process."""
    prompt: list[dict[str, object]] = [
        {"role": "system", "content": "Answer from the numbered sources. " + "x" * 3000},
        {"role": "user", "content": "How many vacation days?"},
    ]

    def run() -> float:
        started = time.process_time()
        asyncio.run(_many(n, prompt))
        return time.process_time() - started

    off = min(run() for _ in range(3))
    traces = Tracing.to(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces"))
    traces.install()
    try:
        started = time.process_time()
        asyncio.run(_many(n, prompt))
        traces.provider.force_flush()  # the export thread's work counts too
        on = time.process_time() - started
    finally:
        traces.shutdown()
    return {"off_us": 1e6 * off / n, "on_us": 1e6 * on / n, "added_us": 1e6 * (on - off) / n}


async def _many(n: int, prompt: list[dict[str, object]]) -> None:
    for _ in range(n):
        await _one_question(64, prompt)


def server_process(url: str) -> psutil.Process:
    """The process listening on ``url``'s port."""
    port = int(url.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            assert conn.pid is not None
            return psutil.Process(conn.pid)
    raise RuntimeError(f"nothing listens on {url}")


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def measure(
    urls: dict[str, str], levels: list[int], requests: int, rounds: int
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        files = [("files", (p.name, p.read_bytes())) for p in sorted((ROOT / "samples").iterdir())]
        for url in urls.values():
            (
                await http.post(f"{url}/api/collections/bench/documents", files=files)
            ).raise_for_status()
        for url in urls.values():
            while (await http.get(f"{url}/api/ingest/status")).json()["in_flight"]:
                await asyncio.sleep(0.2)
            await level(http, url, 4, 20)  # warm-up
        processes = {name: server_process(url) for name, url in urls.items()}
        out: dict[str, Any] = {}
        for conc in levels:
            got: dict[str, list[StreamResult]] = {name: [] for name in urls}
            cpu = dict.fromkeys(urls, 0.0)
            for _ in range(rounds):
                for name, url in urls.items():
                    before = cpu_s(processes[name])
                    got[name] += await level(http, url, conc, requests)
                    # Spans still queued are exported within 5 s: let them count here.
                    await asyncio.sleep(5.5)
                    cpu[name] += cpu_s(processes[name]) - before
            row: dict[str, Any] = {}
            for name, results in got.items():
                ok = [r for r in results if r.ok and r.ttft_ms is not None]
                row[name] = {
                    "ttft_ms": percentiles([r.ttft_ms for r in ok if r.ttft_ms is not None]),
                    "e2e_ms": percentiles([r.total_ms for r in ok]),
                    "errors": len(results) - len(ok),
                    "n": len(results),
                    "cpu_ms_per_question": 1000 * cpu[name] / len(results),
                }
            out[str(conc)] = row
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,10")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    work = Path(tempfile.mkdtemp())
    print(f"machine: {machine()}")
    with receiver() as otlp, scripted_llm(work / "llm.log") as llm:
        cost = cost_per_question(otlp)
        print(f"in-process, per question (64 pieces, 3 KB prompt): {cost['off_us']:.0f} µs "
              f"without tracing, {cost['on_us']:.0f} µs with it: +{cost['added_us']:.0f} µs "
              f"of CPU")  # fmt: skip
        common = {"llm_base_url": llm, "llm_model": MODEL}
        with ExitStack() as servers:
            off = servers.enter_context(ragserve(work / "off", work / "off.log", **common))
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp  # the second server only
            try:
                on = servers.enter_context(ragserve(work / "on", work / "on.log", **common))
            finally:
                del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
            urls = {"off": off, "on": on}
            data = asyncio.run(measure(urls, levels, args.requests, args.rounds))
    print(f"{'streams':>7} {'tracing':>7} {'TTFT p50':>9} {'p99':>7} {'E2E p50':>8} {'p99':>7} "
          f"{'CPU ms/q':>8} {'errors':>6}")  # fmt: skip
    for conc, row in data.items():
        for name in ("off", "on"):
            t, e = row[name]["ttft_ms"], row[name]["e2e_ms"]
            print(f"{conc:>7} {name:>7} {t['p50']:>9.1f} {t['p99']:>7.1f} {e['p50']:>8.1f} "
                  f"{e['p99']:>7.1f} {row[name]['cpu_ms_per_question']:>8.2f} "
                  f"{row[name]['errors']:>6}")  # fmt: skip
        on_, off_ = row["on"], row["off"]
        print(f"{conc:>7} on/off  TTFT p50 {on_['ttft_ms']['p50'] / off_['ttft_ms']['p50']:.3f}x, "
              f"E2E p50 {on_['e2e_ms']['p50'] / off_['e2e_ms']['p50']:.3f}x, "
              f"E2E p99 {on_['e2e_ms']['p99'] / off_['e2e_ms']['p99']:.3f}x, CPU per question "
              f"{on_['cpu_ms_per_question'] / off_['cpu_ms_per_question']:.3f}x "
              f"(+{on_['cpu_ms_per_question'] - off_['cpu_ms_per_question']:.2f} ms)")  # fmt: skip
    print(f"receiver: {Receiver.posts} OTLP exports, {Receiver.bytes / 1024:.0f} KiB")
    save("tracing_overhead", {"levels": data, "exports": Receiver.posts, "in_process": cost})


if __name__ == "__main__":
    main()
