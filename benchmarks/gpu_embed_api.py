"""/v1/embeddings on the GPU under 64 client processes, against the backend called directly.

The workload of issue 17: chunk-like texts of 150–250 tokens, 64 clients each in its own
process, 32 texts a request, ``encoding_format=base64``, closed loop. ``ragserve serve`` runs
as its own process (or several, each on its own port and data directory, all sharing the
one GPU, with the clients spread over them); the chat backend is the tests' scripted server.
The direct rate (CudaEmbedder.embed_passages on the same texts) is measured first in this
same run, then the GPU is freed for the servers.

    python -m benchmarks.gpu_embed_api --minilm DIR [--servers 1,4] [--max-batch 512,2048]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks._servers import ragserve, raise_fd_limit, scripted_llm
from benchmarks.gpu_embed_workload import chunk_texts


def client(
    url: str,
    model: str,
    texts: list[str],
    k: int,
    clients: int,
    seconds: float,
    dim: int,
    ready: Any,
    queue: Any,
) -> None:
    """One client process: 32 texts a request for ``seconds`` once every client is ready;
    every vector is checked, and only requests answered inside the window count."""
    import httpx

    sent, latencies, errors = 0, [], 0
    i = k * 32

    def post(http: httpx.Client, batch: list[str]) -> httpx.Response:
        body = {"model": model, "input": batch, "encoding_format": "base64"}
        return http.post("/v1/embeddings", json=body)

    with httpx.Client(base_url=url, timeout=120) as http:
        post(http, texts[:32])  # connected and warm before the window
        # The window opens when the last client is up: spawning 64 processes that each
        # unpickle the texts took more than 13 s on the lent machine, and a fixed start time
        # counted clients that were not running yet (run 10: up to 5.4 s late).
        ready.wait(timeout=300)
        start = time.time()
        stop = start + seconds
        cpu0 = sum(os.times()[:2])
        while time.time() < stop:
            batch = [texts[(i + j) % len(texts)] for j in range(32)]
            t0 = time.perf_counter()
            r = post(http, batch)
            ok = r.status_code == 200 and all(
                len(base64.b64decode(d["embedding"])) == 4 * dim for d in r.json()["data"]
            )
            if time.time() > stop:
                break  # answered after the window closed
            if ok:
                latencies.append(time.perf_counter() - t0)
                sent += len(batch)
            else:
                errors += 1
            i += clients * 32
        cpu = sum(os.times()[:2]) - cpu0
    queue.put((sent, latencies, errors, cpu, start))


def load(
    urls: list[str], model: str, texts: list[str], clients: int, seconds: float, dim: int
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    ready = ctx.Barrier(clients + 1)
    procs = [
        ctx.Process(
            target=client,
            args=(urls[k % len(urls)], model, texts, k, clients, seconds, dim, ready, queue),
        )
        for k in range(clients)
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=300)
    before = _cpu_by_role()
    time.sleep(seconds)
    after = _cpu_by_role()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[1])
    return {
        "texts": sum(r[0] for r in results),
        "errors": sum(r[2] for r in results),
        "texts_per_s": sum(r[0] for r in results) / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "mean_ms": 1000 * statistics.fmean(latencies) if latencies else None,
        # Spread of the clients' window starts (the barrier releases them together).
        "client_start_spread_s": round(max(r[4] for r in results) - min(r[4] for r in results), 3),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        # Cores busy during the window, by whom: the machine's 16 are shared by all of them.
        "cores": {
            role: round((after.get(role, 0.0) - before.get(role, 0.0)) / seconds, 2)
            for role in after
        }
        | {"clients (their own count)": round(sum(r[3] for r in results) / seconds, 2)},
    }


def _cpu_by_role() -> dict[str, float]:
    """CPU seconds so far: the whole machine (/proc/stat), each server's main process, its
    tokenizer processes, and the client processes — read from /proc, no psutil needed."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(x) for x in fields) - int(fields[3]) - int(fields[4])  # less idle, iowait
    parent, cpu, cmd = {}, {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd[entry.name] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        parent[entry.name] = rest[1]
        cpu[entry.name] = (int(rest[11]) + int(rest[12])) / tick
    me = str(os.getpid())
    roles = {"machine": busy / tick, "servers (main)": 0.0, "servers (tokenizers)": 0.0}
    roles["clients"] = 0.0
    for pid, ppid in parent.items():
        if ppid == me and "ragserve serve" in cmd[pid]:
            roles["servers (main)"] += cpu[pid]
        elif ppid in parent and parent[ppid] == me and "ragserve serve" in cmd[ppid]:
            roles["servers (tokenizers)"] += cpu[pid]
        elif ppid == me and "multiprocessing" in cmd[pid]:
            roles["clients"] += cpu[pid]
    return roles


def direct_rate(folder: Path, texts: list[str]) -> tuple[float, float, int]:
    """texts/s and tokens a text of the backend called directly; frees the GPU after."""
    import numpy as np
    import torch

    from ragserve.embed.cuda import CudaEmbedder
    from ragserve.embed.token_ids import encode

    embedder = CudaEmbedder(str(folder), model_id="direct")
    tokens = int(np.minimum(encode(embedder._ids, texts).full, embedder.max_tokens).sum())
    embedder.embed_passages(texts[:4096])
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        embedder.embed_passages(texts)
        times.append(time.perf_counter() - t0)
    dim = embedder.dimension
    embedder.close()
    del embedder
    torch.cuda.empty_cache()
    return len(texts) / statistics.median(times), tokens / len(texts), dim


def pipeline_means(url: str) -> dict[str, float]:
    """Where a request's time went in one server, from its /metrics (means over the run)."""
    import httpx

    sums: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        base = name.split("{", 1)[0]
        if base.endswith(("_sum", "_count")) and (
            "ragserve_embed" in base or ('route="/v1/embeddings"' in name and "http" in base)
        ):
            sums[base] = sums.get(base, 0.0) + float(value)

    def mean(metric: str) -> float:
        count = sums.get(f"{metric}_count", 0.0)
        return sums.get(f"{metric}_sum", 0.0) / count if count else float("nan")

    return {
        "texts_per_merged_call": mean("ragserve_embed_batch_size"),
        "tokenize_ms": 1000 * mean("ragserve_embed_tokenize_seconds"),
        "queue_ms": 1000 * mean("ragserve_embed_queue_seconds"),
        "merged_call_ms": 1000 * mean("ragserve_embed_batch_duration_seconds"),
        "http_ms": 1000 * mean("ragserve_http_request_duration_seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", type=Path, required=True)
    parser.add_argument("--servers", default="1,4")
    parser.add_argument("--max-batch", default="512,2048")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument(
        "--tokenize-processes",
        default="",
        help="tokenizer processes per server, one figure per --servers entry "
        "(default: the cores shared out, one left to each server)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    raise_fd_limit()
    folder = args.minilm.resolve()
    texts = chunk_texts(folder / "tokenizer.json", args.texts, seed=3)
    cores = os.cpu_count() or 1
    rate, tokens_per_text, dim = direct_rate(folder, texts)
    print(f"direct: {rate * tokens_per_text / 1e6:.2f} M tok/s ({rate:.0f} texts/s)", flush=True)
    work = Path(tempfile.mkdtemp())
    rows = []
    servers = [int(s) for s in args.servers.split(",")]
    per_server = [int(t) for t in args.tokenize_processes.split(",") if t] or [
        max(1, cores // n - 1) for n in servers
    ]
    for n, tokenizers in zip(servers, per_server, strict=True):
        for max_batch in args.max_batch.split(","):
            with ExitStack() as stack:
                llm = stack.enter_context(scripted_llm(work / "llm.log"))
                servers_cms = [
                    ragserve(
                        work / f"data-{n}-{max_batch}-{i}",
                        work / f"server-{i}.log",
                        llm_base_url=llm,
                        llm_model="ok",
                        embed_model=str(folder),
                        embed_device="cuda",
                        embed_max_batch=max_batch,
                        # The servers share the machine's cores for tokenising.
                        embed_tokenize_processes=str(tokenizers),
                    )
                    for i in range(n)
                ]
                with ThreadPoolExecutor(n) as starting:  # started side by side
                    started = [starting.submit(cm.__enter__) for cm in servers_cms]
                    for cm, future in zip(servers_cms, started, strict=True):
                        if future.exception() is None:
                            stack.push(cm.__exit__)  # only what started is stopped
                    urls = [f.result() for f in started]
                served = load(urls, str(folder), texts[:4096], args.clients, args.seconds, dim)
                served["server_0"] = pipeline_means(urls[0])
            served_tok = served["texts_per_s"] * tokens_per_text
            row = {
                "servers": n,
                "tokenize_processes": tokenizers,
                "max_batch": int(max_batch),
                **served,
                "tokens_per_s": served_tok,
                "vs_direct": served_tok / (rate * tokens_per_text),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_embed_api.json").write_text(
        json.dumps(
            {"direct_texts_per_s": rate, "tokens_per_text": tokens_per_text, "rows": rows}, indent=2
        )
    )
    print(f"\n/v1/embeddings, {args.clients} client processes × 32 texts/request, base64")
    print(f"direct CudaEmbedder: {rate * tokens_per_text / 1e6:.2f} M tok/s")
    print(
        f"{'servers':>7} {'tokenizers':>10} {'max_batch':>9} {'M tok/s':>8} {'/direct':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    )
    for r in rows:
        print(
            f"{r['servers']:>7} {r['tokenize_processes']:>10} {r['max_batch']:>9} "
            f"{r['tokens_per_s'] / 1e6:>8.2f} {r['vs_direct']:>8.1%} {r['p50_ms'] or 0:>7.1f} "
            f"{r['p99_ms'] or 0:>7.1f} {r['errors']:>6}"
        )


if __name__ == "__main__":
    main()
