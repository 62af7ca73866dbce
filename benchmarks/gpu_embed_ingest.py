"""End-to-end ingestion of a PDF corpus on all cores + the GPU, and which stage limits it.

1. Builds the corpus (default 100 PDFs × 50 pages = 5,000 pages) with benchmarks.corpus,
   one process a core.
2. Each stage alone, on the same files: parse + chunk with N parse workers (what the
   pipeline's parse threads do, without embedding); embedding the resulting chunks with the
   CudaEmbedder directly; the pipeline as a whole (parse ×N ▶ embed ▶ write into the
   embedded Qdrant Edge store). The stage whose rate is closest to the whole is the limit.

    python -m benchmarks.gpu_embed_ingest --minilm DIR [--files 100 --pages 50 --parallel 14]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.corpus import make_pdf
from ragserve.config import Settings
from ragserve.embed.base import TextTokenizer
from ragserve.ingest.chunking import chunk_document
from ragserve.ingest.parsing import ChunkPlan, ParseWorker
from ragserve.ingest.pipeline import CHUNK_WINDOW, IngestPipeline
from ragserve.runtime import Runtime


class Busy:
    """Wraps a stage's call and sums the seconds at least one call was running (calls may
    overlap): a stage busy for nearly the whole run is the one the others wait for."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call
        self.seconds = 0.0
        self._active = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if not self._active:
                self._since = time.perf_counter()
            self._active += 1
        try:
            return self.call(*args, **kwargs)
        finally:
            with self._lock:
                self._active -= 1
                if not self._active:
                    self.seconds += time.perf_counter() - self._since


def run_pipeline(
    settings: Settings,
    runtime: Runtime,
    embedder: Any,
    corpus: Path,
    parallel: int,
    name: str,
    depth: int,
) -> dict[str, float]:
    """One pipeline run into its own collection, with the embed and write stages' busy time
    and the store's final optimize timed apart."""
    store = runtime.catalog.vectors
    timed = TimedOptimize(store.optimize)
    store.optimize = timed  # type: ignore[method-assign]
    pipeline = IngestPipeline(settings, runtime.catalog, embedder, parallel=parallel)
    pipeline.embed_depth = depth
    embed = Busy(embedder.embed_passages)
    write = Busy(pipeline._write)
    pipeline._write = write  # type: ignore[method-assign]
    embedder.embed_passages = embed
    try:
        report = pipeline.run([corpus], name)
    finally:
        del embedder.embed_passages
        del store.optimize  # back to the class's own method
    assert not report.failed, report.failed[:3]
    return {
        "seconds": report.seconds,
        "chunks": report.chunks,
        "tokens": report.tokens,
        "optimize_s": timed.seconds[-1],
        "embed_busy": embed.seconds / report.seconds,
        "write_busy": write.seconds / report.seconds,
    }


class TimedOptimize:
    """The store's optimize, timed: the pipeline's run ends with it."""

    def __init__(self, optimize: Callable[[str], None]) -> None:
        self.optimize = optimize
        self.seconds: list[float] = []

    def __call__(self, name: str) -> None:
        t = time.perf_counter()
        self.optimize(name)
        self.seconds.append(time.perf_counter() - t)


def build_corpus(folder: Path, files: int, pages: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        jobs = [
            pool.submit(make_pdf, folder / f"policy-{i:03d}.pdf", pages, i) for i in range(files)
        ]
        return [j.result() for j in jobs]


def parse_and_chunk(
    settings: Settings,
    files: list[Path],
    parallel: int,
    tokenizer: TextTokenizer,
    chunk: str = "here",
) -> tuple[float, list[str]]:
    """The parse stage alone: N threads, each with its child parse process, then chunking
    ``here`` in the thread (as before), ``children`` in the child (the pipeline's default
    now), or ``none`` (parsing alone)."""
    from ragserve.ingest.guards import ParseLimits

    limits = ParseLimits(10**9, 10**9, 10**9)
    pending = list(files)
    texts: list[str] = []
    lock = threading.Lock()

    plan = ChunkPlan(
        tokenizer,
        settings.chunk_tokens,
        settings.chunk_overlap,
        settings.ingest_max_document_tokens,
        CHUNK_WINDOW,
    )

    def worker() -> None:
        parser = ParseWorker(settings.parse_timeout_s, plan=plan if chunk == "children" else None)
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    path = pending.pop()
                if chunk == "children":
                    _, windows = parser.parse_chunked(path, path.read_bytes(), limits)
                    cut = [c.embedding_text() for w in windows for c in w.chunks]
                    with lock:
                        texts.extend(cut)
                    continue
                doc = parser.parse(path, path.read_bytes(), limits)
                if chunk == "none":
                    continue
                chunks = chunk_document(
                    doc,
                    tokenizer,
                    settings.chunk_tokens,
                    settings.chunk_overlap,
                )
                with lock:
                    texts.extend(c.embedding_text() for c in chunks)
        finally:
            parser.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", type=Path, required=True)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--parallel", default="14")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="pipeline runs of each variant, alternated (best kept)",
    )
    parser.add_argument(
        "--variants",
        default="children,depth2,batcher",
        help="pipelines to run beside 'before': children, depth2, batcher, switch",
    )
    parser.add_argument(
        "--no-before",
        action="store_true",
        help="leave the 'before' pipeline out (for a profile of the listed ones alone); "
        "ratios are then to the first listed",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    files = build_corpus(work / "corpus", args.files, args.pages)
    pages = args.files * args.pages
    print(
        f"corpus: {pages} pages in {len(files)} PDFs, built in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    results = []
    for parallel in (int(p) for p in args.parallel.split(",")):
        settings = Settings(
            data_dir=work / f"data-{parallel}",
            embed_model=str(args.minilm.resolve()),
            embed_device="cuda",
            ingest_parallel=parallel,
        )
        with Runtime(settings) as runtime:
            embedder = runtime.embedder
            parse_only_s, _ = parse_and_chunk(
                settings, files, parallel, embedder.tokenizer, chunk="none"
            )
            children_s, _ = parse_and_chunk(
                settings, files, parallel, embedder.tokenizer, chunk="children"
            )
            parse_s, texts = parse_and_chunk(settings, files, parallel, embedder.tokenizer)
            embedder.embed_passages(texts[:2048])
            t1 = time.perf_counter()
            embedder.embed_passages(texts)
            embed_s = time.perf_counter() - t1
            # What the embed stage is bound by: the tokenizer alone on the same texts.
            tokenize = getattr(embedder, "_tokenize", None)
            t2 = time.perf_counter()
            n_tokens = int(tokenize(texts).full.sum()) if tokenize else 0
            print(
                f"embedder {type(embedder).__name__}, TOKENIZERS_PARALLELISM="
                f"{os.environ.get('TOKENIZERS_PARALLELISM')}, tokenizer alone "
                f"{n_tokens / (time.perf_counter() - t2) / 1e6:.2f} M tok/s, embed "
                f"{n_tokens / embed_s / 1e6:.2f} M tok/s, stats {getattr(embedder, 'stats', None)}",
                flush=True,
            )
            # The pipeline as it was and as it is, alternated, each into its own collection:
            # chunking in the parse threads or in their child processes; one embedding batch
            # at a time or two in flight; the model called directly (the CLI) or through the
            # server's batching embedder (MergingEmbedder: tokenises one batch while the
            # device runs the other).
            # The switch-interval variant asks whether the parse threads, the thread feeding
            # the model and the writer lose time waiting for the one GIL (Python's default
            # hands it over every 5 ms).
            known = {
                "before": ("chunk in threads, 1 batch, direct (before)", False, 1, embedder, None),
                "children": ("chunk in children, 1 batch, direct", True, 1, embedder, None),
                "depth2": ("chunk in children, 2 batches, direct", True, 2, embedder, None),
                "batcher": (
                    "chunk in children, 2 batches, batcher (server)",
                    True,
                    2,
                    runtime.shared_embedder,
                    None,
                ),
                "switch": ("chunk in children, 1 batch, GIL switch 1 ms", True, 1, embedder, 1e-3),
            }
            listed = args.variants.split(",")
            variants = {
                known[k][0]: known[k][1:]
                for k in (listed if args.no_before else ["before", *listed])
            }
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for i in range(args.repeat):
                for k, (name, (in_child, depth, through, switch)) in enumerate(variants.items()):
                    variant = settings.model_copy(update={"ingest_chunk_in_parser": in_child})
                    default_switch = sys.getswitchinterval()
                    sys.setswitchinterval(switch or default_switch)
                    try:
                        r = run_pipeline(
                            variant, runtime, through, work / "corpus", parallel, f"b{k}-{i}", depth
                        )
                    finally:
                        sys.setswitchinterval(default_switch)
                    runs[name].append(r)
                    print(
                        f"pipeline, {name}: {pages / r['seconds']:.0f} pages/s "
                        f"({r['seconds']:.1f} s, {r['optimize_s']:.1f} s of it the store's final "
                        f"optimize; embed stage busy {r['embed_busy']:.0%}, writer busy "
                        f"{r['write_busy']:.0%})",
                        flush=True,
                    )
            best = {w: min(rs, key=lambda r: r["seconds"]) for w, rs in runs.items()}
            before = next(iter(best.values()))["seconds"]  # 'before', or the first listed
            for name, r in best.items():
                print(
                    f"pipeline, best of {args.repeat}, {name}: {pages / r['seconds']:.0f} pages/s "
                    f"({before / r['seconds']:.2f}× before; streaming "
                    f"{pages / (r['seconds'] - r['optimize_s']):.0f} pages/s without the final "
                    "optimize)",
                    flush=True,
                )
            report_row = min(best.values(), key=lambda r: r["seconds"])
        row = {
            "parallel": parallel,
            "pages": pages,
            "chunks": report_row["chunks"],
            "tokens": report_row["tokens"],
            "end_to_end_s": report_row["seconds"],
            "end_to_end_pages_per_s": pages / report_row["seconds"],
            "end_to_end_before_pages_per_s": pages / before,
            "variants_pages_per_s": {n: pages / r["seconds"] for n, r in best.items()},
            "embed_busy": report_row["embed_busy"],
            "write_busy": report_row["write_busy"],
            "parse_only_pages_per_s": pages / parse_only_s,
            "parse_chunk_in_children_pages_per_s": pages / children_s,
            "parse_chunk_pages_per_s": pages / parse_s,
            "embed_pages_per_s": pages / embed_s,
            "embed_tokens_per_s": report_row["tokens"] / embed_s,
            "end_to_end_tokens_per_s": report_row["tokens"] / report_row["seconds"],
            "final_optimize_s": report_row["optimize_s"],
        }
        stages = {
            "parse+chunk": row["parse_chunk_in_children_pages_per_s"],
            "embed": row["embed_pages_per_s"],
        }
        row["bottleneck"] = min(stages, key=lambda k: stages[k])
        results.append(row)
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_embed_ingest.json").write_text(json.dumps(results, indent=2))
    print(f"\ningestion, {pages} pages, {os.cpu_count()} cores + GPU")
    print(
        f"{'parse workers':>13} {'e2e before':>10} {'e2e best':>8} {'embed busy':>10} "
        f"{'writer busy':>11} {'parse only':>10} {'+chunk here':>11} "
        f"{'+chunk in child':>15} "
        f"{'embed':>9} {'limit':>11}"
    )
    for r in results:
        print(
            f"{r['parallel']:>13} {r['end_to_end_before_pages_per_s']:>10.1f} "
            f"{r['end_to_end_pages_per_s']:>8.1f} {r['embed_busy']:>10.0%} "
            f"{r['write_busy']:>11.0%} "
            f"{r['parse_only_pages_per_s']:>10.1f} {r['parse_chunk_pages_per_s']:>11.1f} "
            f"{r['parse_chunk_in_children_pages_per_s']:>15.1f} "
            f"{r['embed_pages_per_s']:>9.0f} "
            f"{r['bottleneck']:>11}"
        )


if __name__ == "__main__":
    main()
