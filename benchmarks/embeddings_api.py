"""/v1/embeddings under 64 concurrent clients sending one text each, vs the bare model.

Goal (issue 3): the server's throughput is at least 80 % of the raw model's at its best
batch size, measured in the same run on the same ~200-token passages. The server runs as
its own process; the 64 clients are asyncio tasks in this one.

    python -m benchmarks.embeddings_api [--clients 64] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks._common import embed_rate, machine, percentiles, save
from benchmarks._servers import ragserve, raise_fd_limit, scripted_llm
from benchmarks.embedders import chunk_texts
from ragserve.config import Settings

BATCHES = [1, 2, 4, 8, 16, 32, 64]
MODEL = "all-MiniLM-L6-v2-int8"


async def load(url: str, texts: list[str], clients: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def client(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                body = {"model": MODEL, "input": texts[i % len(texts)], "encoding_format": "base64"}
                t0 = time.perf_counter()
                response = await http.post("/v1/embeddings", json=body)
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1
                i += clients

        # Warm-up, then the measured window.
        await asyncio.gather(*(http.post("/v1/embeddings", json={"model": MODEL, "input": t})
                               for t in texts[:clients]))  # fmt: skip
        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return {"rate": len(latencies) / elapsed, "requests": len(latencies), "errors": errors,
            "latency_ms": percentiles(latencies)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    raise_fd_limit()
    texts = chunk_texts(60)
    print(f"machine: {machine()}\n{len(texts)} passages of ~200 tokens, {args.clients} clients")

    raw = {b: embed_rate(Settings(), texts, b) for b in BATCHES}
    best = max(raw, key=lambda b: raw[b])
    print("raw model: " + ", ".join(f"batch {b}: {r:.1f}/s" for b, r in raw.items()))

    work = Path(tempfile.mkdtemp())
    with (
        scripted_llm(work / "llm.log") as llm,
        ragserve(work / "data", work / "server.log", llm_base_url=llm, llm_model="ok") as url,
    ):
        served = asyncio.run(load(url, texts, args.clients, args.seconds))
    rate = float(served["rate"])  # type: ignore[arg-type]
    lat = served["latency_ms"]
    print(f"/v1/embeddings: {rate:.1f} texts/s over {served['requests']} requests, "
          f"{served['errors']} errors, latency {lat}")  # fmt: skip
    ratio = rate / raw[best]
    print(f"ratio served / raw best (batch {best}, {raw[best]:.1f}/s): {ratio:.1%}  (goal >= 80%)")
    save("embeddings_api", {"raw": raw, "best_batch": best, "served": served, "ratio": ratio,
                            "clients": args.clients})  # fmt: skip


if __name__ == "__main__":
    main()
