"""What ragserve adds to time-to-first-token, at 1, 10 and 50 concurrent streams.

TTFT through ``/api/chat`` and ``/v1/chat/completions`` (query embedding, vector search,
prompt packing, proxying) minus TTFT of the same prompt sent straight to the same LLM
server. The LLM is the scripted server streaming like a fast GPU server: 64 tokens, one
every 25 ms, so N concurrent streams are N answers in progress (as with a real model),
not N clients hammering a server that answers instantly. Everything (client, scripted
LLM, ragserve) shares the machine's cores. Goal (issue 3): overhead <= 30 ms p50 and
<= 60 ms p99 at 50 streams.

    python -m benchmarks.chat_overhead [--levels 1,10,50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx

from benchmarks._common import machine, percentiles, save
from benchmarks._servers import ragserve, raise_fd_limit, scripted_llm
from benchmarks._sse_client import StreamResult, timed_stream
from ragserve.protocol import Citation
from ragserve.rag.prompt import build_messages

ROOT = Path(__file__).resolve().parent.parent
MODEL = "paced-64-25"
QUESTIONS = [
    "How many vacation days do Northwind employees get?",
    "How do I set up the VPN?",
    "What is the password policy?",
    "What do I do on my first day?",
    "What does the dental plan cover?",
]


async def run_level(
    http: httpx.AsyncClient, target: str, concurrency: int, requests: int,
    bodies: list[tuple[str, dict[str, object], str]],
) -> list[StreamResult]:  # fmt: skip
    queue = list(range(requests))
    results: list[StreamResult] = []

    async def worker() -> None:
        while queue:
            i = queue.pop()
            url, body, kind = bodies[i % len(bodies)]
            results.append(await timed_stream(http, url, body, kind))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def measure(url: str, llm: str, levels: list[int]) -> dict[str, object]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        files = [("files", (p.name, p.read_bytes())) for p in sorted((ROOT / "samples").iterdir())]
        (await http.post(f"{url}/api/collections/bench/documents", files=files)).raise_for_status()
        while (await http.get(f"{url}/api/ingest/status")).json()["in_flight"]:
            await asyncio.sleep(0.2)
        targets: dict[str, list[tuple[str, dict[str, object], str]]] = {"direct": [], "api": [],
                                                                        "v1": []}  # fmt: skip
        for q in QUESTIONS:
            found = await http.post(f"{url}/api/search", json={"collection": "bench", "query": q})
            sources = [Citation(**r) for r in found.json()["results"]]
            top = sources[0].score
            sources = [s for s in sources if s.score >= 0.8 * top]  # what ragserve keeps
            messages, _ = build_messages(q, sources, [], context_window=2048, max_tokens=384)
            targets["direct"].append((f"{llm}/chat/completions", {
                "model": MODEL, "messages": messages, "stream": True, "max_tokens": 384,
                "temperature": 0.0}, "openai"))  # fmt: skip
            targets["api"].append((f"{url}/api/chat", {"message": q, "collection": "bench"}, "api"))
            targets["v1"].append((f"{url}/v1/chat/completions", {
                "model": "rag:bench", "stream": True,
                "messages": [{"role": "user", "content": q}]}, "openai"))  # fmt: skip
        for bodies in targets.values():  # warm-up
            await run_level(http, "", 5, 20, bodies)
        out: dict[str, object] = {}
        for level in levels:
            requests = max(40, 6 * level)
            row: dict[str, object] = {}
            for name, bodies in targets.items():
                results = await run_level(http, name, level, requests, bodies)
                ttfts = [r.ttft_ms for r in results if r.ok and r.ttft_ms is not None]
                errors = [r.error for r in results if not r.ok]
                row[name] = {"ttft_ms": percentiles(ttfts), "errors": len(errors),
                             "first_error": errors[0] if errors else None}  # fmt: skip
                server = [r.server_timings for r in results if r.server_timings]
                if server:  # where ragserve says the time went, before the LLM was called
                    row[name]["retrieval_ms"] = percentiles(  # type: ignore[index]
                        [t["retrieval_ms"] for t in server])  # fmt: skip
            out[str(level)] = row
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,10,50")
    args = parser.parse_args()
    raise_fd_limit()
    levels = [int(x) for x in args.levels.split(",")]
    work = Path(tempfile.mkdtemp())
    print(f"machine: {machine()}")
    with (
        scripted_llm(work / "llm.log") as llm,
        ragserve(work / "data", work / "server.log", llm_base_url=llm, llm_model=MODEL) as url,
    ):
        data = asyncio.run(measure(url, llm, levels))
    print(f"{'streams':>7} {'path':>7} {'TTFT p50':>9} {'p99':>7} {'overhead p50':>13} "
          f"{'p99':>7} {'errors':>6}")  # fmt: skip
    for level, row in data.items():
        direct = row["direct"]["ttft_ms"]  # type: ignore[index]
        for name in ("direct", "api", "v1"):
            cell = row[name]  # type: ignore[index]
            t = cell["ttft_ms"]
            over = "" if name == "direct" else f"{t['p50'] - direct['p50']:>+13.1f} " \
                f"{t['p99'] - direct['p99']:>+7.1f}"  # fmt: skip
            retrieval = cell.get("retrieval_ms")
            note = f"  (retrieval p50 {retrieval['p50']:.1f}, p99 {retrieval['p99']:.1f})" \
                if retrieval else ""  # fmt: skip
            print(f"{level:>7} {name:>7} {t['p50']:>9.1f} {t['p99']:>7.1f} "
                  f"{over:>21} {cell['errors']:>6}{note}")  # fmt: skip
    top = data[str(max(levels))]
    for name in ("api", "v1"):
        t, d = top[name]["ttft_ms"], top["direct"]["ttft_ms"]  # type: ignore[index]
        print(f"at {max(levels)} streams, {name}: overhead p50 {t['p50'] - d['p50']:.1f} ms "
              f"(goal <= 30), p99 {t['p99'] - d['p99']:.1f} ms (goal <= 60); "
              f"TTFT ratio p50 {t['p50'] / d['p50']:.2f}x")  # fmt: skip
    save("chat_overhead", {"levels": data})


if __name__ == "__main__":
    main()
