"""How many concurrent SSE answer streams one ragserve process holds.

Each stream is a real ``/api/chat`` request (query embedding, search, prompt) whose answer
comes from the scripted LLM server at one token every 500 ms, so every stream stays open
for ~15 s and all of them are open at once. The baseline is the same number of streams
opened straight against the scripted server. Goal (issue 3): 1,000 streams on 2 cores with
0 errors.

    python -m benchmarks.sse_streams [--streams 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from benchmarks._common import machine, percentiles, save
from benchmarks._servers import ragserve, raise_fd_limit, scripted_llm
from benchmarks._sse_client import StreamResult, timed_stream

ROOT = Path(__file__).resolve().parent.parent
PACED = "paced-30-500"  # 30 tokens, one every 500 ms


async def hold(url: str, body: Mapping[str, object], kind: str, streams: int) -> dict[str, object]:
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    open_now = 0
    peak = 0

    async def one(http: httpx.AsyncClient) -> StreamResult:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            return await timed_stream(http, url, body, kind)
        finally:
            open_now -= 1

    # Peak is counted while requests are outstanding; each lasts ~15 s, far longer than ramp-up.
    async with httpx.AsyncClient(timeout=httpx.Timeout(120, connect=60), limits=limits) as http:
        started = time.perf_counter()
        results = await asyncio.gather(*(one(http) for _ in range(streams)))
        elapsed = time.perf_counter() - started
    ok = [r for r in results if r.ok]
    errors = [r.error for r in results if not r.ok]
    ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
    return {"streams": streams, "completed": len(ok), "errors": len(errors),
            "first_errors": sorted(set(e or "" for e in errors))[:3], "peak_open": peak,
            "seconds": elapsed, "ttft_ms": percentiles(ttft) if ttft else None,
            "total_ms": percentiles([r.total_ms for r in ok]) if ok else None}  # fmt: skip


async def measure(url: str, llm: str, streams: int) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=120) as http:
        files = [("files", (p.name, p.read_bytes())) for p in sorted((ROOT / "samples").iterdir())]
        (await http.post(f"{url}/api/collections/bench/documents", files=files)).raise_for_status()
        while (await http.get(f"{url}/api/ingest/status")).json()["in_flight"]:
            await asyncio.sleep(0.2)
    direct_body = {"model": PACED, "stream": True,
                   "messages": [{"role": "user", "content": "Vacation days?"}]}  # fmt: skip
    direct = await hold(f"{llm}/chat/completions", direct_body, "openai", streams)
    api_body = {"message": "How many vacation days do Northwind employees get?",
                "collection": "bench"}  # fmt: skip
    served = await hold(f"{url}/api/chat", api_body, "api", streams)
    return {"direct": direct, "ragserve": served}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    raise_fd_limit()
    work = Path(tempfile.mkdtemp())
    print(f"machine: {machine()}")
    with (
        scripted_llm(work / "llm.log") as llm,
        ragserve(work / "data", work / "server.log", llm_base_url=llm, llm_model=PACED) as url,
    ):
        data = asyncio.run(measure(url, llm, args.streams))
    for name, row in data.items():
        print(f"{name:>9}: {row['completed']}/{row['streams']} completed, {row['errors']} errors "  # type: ignore[index]
              f"{row['first_errors']}, peak open {row['peak_open']}, {row['seconds']:.1f} s, "  # type: ignore[index]
              f"TTFT {row['ttft_ms']}")  # type: ignore[index]  # fmt: skip
    ratio = data["ragserve"]["completed"] / max(1, data["direct"]["completed"])  # type: ignore[index]
    print(f"ratio ragserve / direct completed streams: {ratio:.3f} "
          f"(goal: {args.streams} with 0 errors)")  # fmt: skip
    save("sse_streams", data)


if __name__ == "__main__":
    main()
