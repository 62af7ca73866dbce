"""Ingest throughput with 1, 2, 4 ``ragserve worker`` processes against the one-process server.

One corpus for every line: ``--pages`` HTML pages of the Python manual's ``library/`` (sorted
by name, those up to ``--max-kb``), uploaded through the API in batches of 50; the time runs
from the first upload to the last document ready.

1. The physical limit: the bare embedder's encode of the same chunk texts (a sample of up to
   ``--limit-chunks``), the better of batches of 32 and 64, with every core: chunks/s → docs/s.
2. Baseline: ``ragserve serve`` alone (no RAGSERVE_QUEUE_URL), its in-process queue with
   RAGSERVE_INGEST_PARALLEL = the workers' ``--concurrency``, every core for embedding.
3. The shared queue: the API plus N workers (``--concurrency``, embed threads max(1, cores //
   N)), vectors handed back to the API's embedded store. Fresh database, data dirs and Redis
   contents for every run, including the baseline's (same database kind).
4. The queue's own cost, measured directly: ``WorkQueue`` enqueue + take + ack of 1,000 tiny
   tasks on the same Redis, and the SQL reads a worker adds per document (its row and its
   collection's) on the same database — per document and as % of the baseline's s/doc.

With fewer cores than N workers need, they share the cores: N× cannot show here. The
1-worker line against the baseline is the coordinator's overhead end to end, but on a busy
machine the runs' noise is larger than it; step 4 is the figure that does not move. Load
averages are printed before, during and after: on a shared machine they say how much the
neighbours took.

    python -m benchmarks.worker_scaling [--pages 48 --max-kb 40 --workers 1,2,4 --database postgres]
    python -m benchmarks.worker_scaling --database sqlite --redis-server /opt/redis/redis-server
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import httpx
import redis
from tests.services import postgres_server, redis_server

from benchmarks._common import OUT, embed_rate, machine
from benchmarks._servers import _process, free_port, ragserve, scripted_llm
from ragserve.cluster.queue import Keys, WorkQueue
from ragserve.config import Settings
from ragserve.embed.registry import build_embedder
from ragserve.ingest.chunking import chunk_document
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes
from ragserve.plugins import load_plugins
from ragserve.store.db import Database
from ragserve.store.repositories.collections import CollectionRepository
from ragserve.store.repositories.documents import DocumentRepository

MANUAL = Path("/usr/share/doc/python3.11/html/library")
COLLECTION = "manual"
UPLOAD_BATCH = 50
CORES = os.cpu_count() or 1
WARM_TEXT = "Warm-up document {0}. " + "The parse child and the embedder start here. " * 40


def loads() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def corpus(directory: Path, pages: int, max_kb: int) -> list[Path]:
    found = [p for p in sorted(directory.glob("*.html")) if p.stat().st_size <= max_kb * 1024]
    if len(found) < pages:
        raise SystemExit(f"only {len(found)} pages of at most {max_kb} KB in {directory}")
    return found[:pages]


def chunk_texts(paths: list[Path], settings: Settings) -> list[str]:
    embedder = build_embedder(settings)
    limits = ParseLimits(10**9, 10**9, settings.max_text_chars)
    try:
        return [
            c.embedding_text()
            for p in paths
            for c in chunk_document(
                parse_bytes(p, p.read_bytes(), limits),
                embedder.tokenizer,
                settings.chunk_tokens,
                settings.chunk_overlap,
            )
        ]
    finally:
        embedder.close()


Upload = tuple[str, bytes, str]


def upload_and_wait(
    api: httpx.Client, collection: str, uploads: list[Upload], timeout: float = 3600
) -> float:
    """Seconds from the first upload to every document ready (failures end the benchmark)."""
    started = time.perf_counter()
    for i in range(0, len(uploads), UPLOAD_BATCH):
        files = [("files", u) for u in uploads[i : i + UPLOAD_BATCH]]
        response = api.post(f"/api/collections/{collection}/documents", files=files)
        assert response.status_code == 202, response.text
    url = f"/api/collections/{collection}/documents"
    deadline = time.monotonic() + timeout
    while True:
        counts = {
            status: int(
                api.get(url, params={"status": status, "limit": 1}).headers["X-Total-Count"]
            )
            for status in ("ready", "failed")
        }
        if counts["failed"]:
            failed = api.get(url, params={"status": "failed"}).json()
            raise SystemExit(f"failed documents: {[(d['source'], d['error']) for d in failed]}")
        if counts["ready"] == len(uploads):
            return time.perf_counter() - started
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout} s: {counts}")
        time.sleep(0.2)


class Services:
    """Redis and the database kind every run gets a fresh instance of."""

    def __init__(self, redis_url: str, new_database: Callable[[str], str]) -> None:
        self.redis_url = redis_url
        self.new_database = new_database
        self.runs = 0

    def fresh(self) -> str:
        """An empty Redis and a new database; returns the database URL."""
        redis.Redis.from_url(self.redis_url).flushall()
        self.runs += 1
        return self.new_database(f"run{self.runs}")


@contextmanager
def services(kind: str, redis_binary: str | None, work: Path) -> Iterator[Services]:
    pg: AbstractContextManager[object] = postgres_server() if kind == "postgres" else nullcontext()
    with redis_server(redis_binary) as rds, pg as server:
        if server is None:
            # A file in the shared data dir; WAL lets the API and the workers share it.
            def new_database(name: str) -> str:
                (work / name).mkdir(exist_ok=True)
                return f"sqlite:///{work / name / 'ragserve.db'}"
        else:
            new_database = server.create_database  # type: ignore[attr-defined]
        yield Services(rds.url, new_database)


@contextmanager
def workers(n: int, concurrency: int, env: dict[str, str], logs: Path) -> Iterator[None]:
    """N ``ragserve worker`` processes, each answering /healthz (embedder loaded)."""
    with contextlib.ExitStack() as stack:
        for i in range(n):
            port = free_port()
            args = [
                sys.executable,
                "-m",
                "ragserve",
                "worker",
                "--concurrency",
                str(concurrency),
                "--metrics-port",
                str(port),
            ]
            stack.enter_context(
                _process(args, f"http://127.0.0.1:{port}/healthz", env, logs / f"worker-{i}.log")
            )
        yield


def run_once(
    paths: list[Path],
    work: Path,
    db_url: str,
    llm: str,
    *,
    concurrency: int,
    n_workers: int,
    redis_url: str,
) -> float:
    """One measured ingest; ``n_workers`` 0 is the one-process baseline."""
    name = f"workers-{n_workers}" if n_workers else "baseline"
    run_dir = work / name
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    common = {"database_url": db_url, "llm_base_url": llm, "llm_model": "ok"}
    if n_workers == 0:
        api = ragserve(
            run_dir / "api-data",
            logs / "api.log",
            **common,
            ingest_parallel=str(concurrency),
            embed_threads=str(CORES),
        )
        pool: AbstractContextManager[object] = nullcontext()
    else:
        shared = {
            "database_url": db_url,
            "queue_url": redis_url,
            "uploads_dir": str(run_dir / "shared-uploads"),
        }
        # The API only stores what workers hand back; its embedder answers queries.
        api = ragserve(
            run_dir / "api-data", logs / "api.log", **{**common, **shared}, embed_threads="1"
        )
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "RAGSERVE_DATA_DIR": str(run_dir / "worker-data"),
            "RAGSERVE_EMBED_THREADS": str(max(1, CORES // n_workers)),
            **{f"RAGSERVE_{k.upper()}": v for k, v in shared.items()},
        }
        pool = workers(n_workers, concurrency, env, logs)
    with api as url, pool, httpx.Client(base_url=url, timeout=120) as client:
        # Untimed: the embedder's first batches and the parse children's start-up, in
        # every pipeline (a few documents per worker, so each is likely to get one).
        warm = [
            (f"warm{i}.txt", WARM_TEXT.format(i).encode(), "text/plain")
            for i in range(max(1, n_workers) * concurrency)
        ]
        upload_and_wait(client, "warm-up", warm)
        seconds = upload_and_wait(
            client, COLLECTION, [(p.name, p.read_bytes(), "text/html") for p in paths]
        )
    shutil.rmtree(run_dir, ignore_errors=True)
    return seconds


def queue_cycle_ms(redis_url: str, cycles: int = 1000) -> float:
    """ms per enqueue + take + ack of one tiny task (what every document costs the queue)."""
    queue = WorkQueue.from_url(
        redis_url, redelivery_s=60, max_attempts=3, backoff_s=5, keys=Keys(prefix="bench-cycle")
    )
    queue.ensure_groups()
    for i in range(50):  # warm the connection pool
        queue.enqueue([f"warm{i}"], urgent=False)
        task = queue.take("bench", block_s=1)
        assert task is not None
        queue.ack(task)
    started = time.perf_counter()
    for i in range(cycles):
        queue.enqueue([f"doc{i}"], urgent=False)
        task = queue.take("bench", block_s=1)
        assert task is not None and task.document_id == f"doc{i}"
        queue.ack(task)
    elapsed = time.perf_counter() - started
    queue.close()
    return elapsed / cycles * 1e3


def worker_sql_ms(db_url: str, rounds: int = 3) -> float:
    """ms per document of the SQL reads a worker adds (its document row, its collection)."""
    db = Database(db_url)
    documents, collections = DocumentRepository(db), CollectionRepository(db)
    ids = [d.id for d in documents.in_collection(COLLECTION)]
    started = time.perf_counter()
    for _ in range(rounds):
        for doc_id in ids:
            row = documents.get(doc_id)
            assert row is not None
            collections.get(row.collection)
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed / (rounds * len(ids)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=48)
    parser.add_argument("--max-kb", type=int, default=40, help="pages up to this size")
    parser.add_argument("--corpus", type=Path, default=MANUAL, help="a folder of .html pages")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--redis-server", help="redis-server binary (default: from PATH)")
    parser.add_argument(
        "--limit-chunks", type=int, default=256, help="chunks in the bare-encode sample"
    )
    parser.add_argument("--out", type=Path, default=OUT / "worker_scaling.json")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    load_plugins()
    paths = corpus(args.corpus, args.pages, args.max_kb)
    work = Path(tempfile.mkdtemp(prefix="worker-scaling-"))
    print(f"machine: {machine()}")
    print(f"load averages (1/5/15 min) at start: {loads()}")
    settings = Settings(data_dir=work / "probe", embed_threads=CORES)
    texts = chunk_texts(paths, settings)
    per_doc = len(texts) / len(paths)
    print(
        f"{len(paths)} pages ({paths[0].name} … {paths[-1].name}, ≤ {args.max_kb} KB), "
        f"{len(texts)} chunks, {per_doc:.1f} per page; database {args.database}",
        flush=True,
    )

    step = max(1, len(texts) // args.limit_chunks)
    sample = texts[::step][: args.limit_chunks]
    encode = {b: embed_rate(settings, sample, b) for b in (32, 64)}
    best_batch = max(encode, key=lambda b: encode[b])
    limit_docs = encode[best_batch] / per_doc
    print(
        f"physical limit: bare encode, {CORES} threads, batch {best_batch}: "
        f"{encode[best_batch]:.1f} chunks/s = {limit_docs:.3f} docs/s "
        f"(batches {', '.join(f'{b}: {r:.1f}' for b, r in encode.items())})",
        flush=True,
    )

    results: dict[str, dict[str, float]] = {}
    with (
        scripted_llm(work / "llm.log") as llm,
        services(args.database, args.redis_server, work) as svc,
    ):
        sql_ms = 0.0
        for n in [0, *counts]:
            db_url = svc.fresh()
            seconds = run_once(
                paths,
                work,
                db_url,
                llm,
                concurrency=args.concurrency,
                n_workers=n,
                redis_url=svc.redis_url,
            )
            label = f"{n} worker{'s' if n > 1 else ''}" if n else "baseline (one process)"
            results[label] = {
                "workers": n,
                "seconds": seconds,
                "docs_per_s": len(paths) / seconds,
                "load": os.getloadavg()[0],
            }
            print(
                f"  {label}: {seconds:.1f} s, {len(paths) / seconds:.3f} docs/s (load {loads()})",
                flush=True,
            )
            if n == counts[0]:
                sql_ms = worker_sql_ms(db_url)
        cycle_ms = queue_cycle_ms(svc.redis_url)

    base = results["baseline (one process)"]
    base_s_per_doc = base["seconds"] / len(paths)
    print(f"\n{'':24} {'s':>8} {'docs/s':>8} {'per worker':>11} {'× baseline':>11}")
    for label, r in results.items():
        per_worker = r["docs_per_s"] / r["workers"] if r["workers"] else r["docs_per_s"]
        r["per_worker_docs_per_s"] = per_worker
        r["ratio"] = r["docs_per_s"] / base["docs_per_s"]
        print(
            f"{label:24} {r['seconds']:8.1f} {r['docs_per_s']:8.3f} {per_worker:11.3f} "
            f"{r['ratio']:11.2f}"
        )
    print(f"{'physical limit (encode)':24} {'':8} {limit_docs:8.3f}")
    one = next(r for r in results.values() if r["workers"] == 1) if 1 in counts else None
    overhead: dict[str, float] = {}
    if one is not None:
        extra = one["seconds"] - base["seconds"]
        overhead = {
            "ms_per_doc": extra / len(paths) * 1e3,
            "percent": extra / base["seconds"] * 100,
        }
        print(
            "\ncoordinator overhead, 1 worker vs baseline: "
            f"{overhead['ms_per_doc']:+.0f} ms/doc, "
            f"{overhead['percent']:+.1f} % of a document's time "
            f"({base_s_per_doc * 1e3:.0f} ms/doc in the baseline)"
        )
    direct = cycle_ms + sql_ms  # each document is taken, read and acknowledged once
    print(
        f"queue cost measured directly: enqueue+take+ack {cycle_ms:.2f} ms/doc, worker SQL "
        f"reads {sql_ms:.2f} ms/doc; together {direct:.2f} ms/doc = "
        f"{direct / (base_s_per_doc * 1e3) * 100:.2f} % of the baseline's s/doc "
        "(goal: < 5 %)"
    )
    if max(counts) > CORES:
        print(
            f"note: {max(counts)} workers share {CORES} cores here, so N× cannot show: "
            "per-worker rate and the overhead above are what this machine can measure"
        )
    print(f"load averages (1/5/15 min) at the end: {loads()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "time": time.strftime("%Y-%m-%d %H:%M"),
                "database": args.database,
                "pages": len(paths),
                "chunks": len(texts),
                "concurrency": args.concurrency,
                "runs": results,
                "encode_chunks_per_s": encode,
                "limit_docs_per_s": limit_docs,
                "coordinator_overhead": overhead,
                "queue_cycle_ms": cycle_ms,
                "worker_sql_ms": sql_ms,
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
