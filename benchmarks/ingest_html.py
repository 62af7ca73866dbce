"""Ingest of real HTML manual pages against the raw embedder, with where the rest of the time goes.

1. Pages: ``--count`` pages of the Python 3.11 manual's ``library/`` (sorted, from ``--start``).
2. Stages, each timed alone on one thread: HTML loading, chunking (its token counting
   included), the BM25 terms of every chunk, and the embedder's encode of the same chunk
   texts, one ``embed_passages`` call for all of them — the physical limit of the pipeline.
3. ``IngestPipeline`` (what ``ragserve ingest`` runs) on the same pages into a fresh embedded
   store, sparse side on; pages/s and chunks/s, and the ratio to the encode alone.
Encode and pipeline alternate ``--repeat`` times and the best of each is kept, so a busy
neighbour on a shared machine does not decide the ratio. CPU-seconds (this process and its
parse children) are printed beside wall time for the same reason.

    python -m benchmarks.ingest_html [--start 180 --count 20 --repeat 2]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._common import machine, save
from ragserve.config import Settings
from ragserve.embed.registry import build_embedder
from ragserve.embed.sparse import passage_vector
from ragserve.ingest.chunking import chunk_document
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes
from ragserve.ingest.pipeline import IngestPipeline
from ragserve.plugins import load_plugins
from ragserve.runtime import Runtime

MANUAL = Path("/usr/share/doc/python3.11/html/library")


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", type=int, default=180)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="best of N for both sides")
    args = parser.parse_args()
    load_plugins()
    pages = sorted(MANUAL.glob("*.html"))[args.start : args.start + args.count]
    work = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=work / "data")
    print(f"machine: {machine()}; embed threads: {settings.embed_threads or 'all'}")
    embedder = build_embedder(settings)
    limits = ParseLimits(10**9, 10**9, settings.max_text_chars)

    # Stages alone, one thread, outside the pipeline.
    started = time.perf_counter()
    documents = [parse_bytes(p, p.read_bytes(), limits) for p in pages]
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    chunks = [
        c
        for d in documents
        for c in chunk_document(
            d, embedder.tokenizer, settings.chunk_tokens, settings.chunk_overlap
        )
    ]
    chunk_s = time.perf_counter() - started
    texts = [c.embedding_text() for c in chunks]
    started = time.perf_counter()
    for text in texts:
        passage_vector(text)
    terms_s = time.perf_counter() - started
    n = len(texts)
    tokens = sum(c.tokens for c in chunks)
    print(f"{len(pages)} pages ({pages[0].name} … {pages[-1].name}), {n} chunks, {tokens} tokens")
    print(
        f"per chunk, one thread: HTML load {parse_s / n * 1e3:.2f} ms, chunking "
        f"{chunk_s / n * 1e3:.2f} ms, BM25 terms {terms_s / n * 1e3:.2f} ms",
        flush=True,
    )

    embedder.embed_passages(texts[:64])  # warm-up, as the pipeline's runtime gets below
    encode_rates: list[float] = []
    pipeline_rates: list[float] = []
    pipeline_cpu: list[float] = []
    for attempt in range(args.repeat):
        started = time.perf_counter()
        embedder.embed_passages(texts)
        encode_rates.append(n / (time.perf_counter() - started))
        data = work / f"data-{attempt}"
        run = settings.model_copy(update={"data_dir": data})
        with Runtime(run) as runtime:
            runtime.embedder.embed_passages(texts[:64])
            cpu = _cpu_seconds()
            report = IngestPipeline(run, runtime.catalog, runtime.embedder).run(pages, "bench")
            cpu = _cpu_seconds() - cpu
        shutil.rmtree(data, ignore_errors=True)
        assert not report.failed and report.chunks == n, (report.chunks, n)
        pipeline_rates.append(n / report.seconds)
        pipeline_cpu.append(cpu)
        print(
            f"  run {attempt + 1}: encode alone {encode_rates[-1]:.1f} chunks/s; pipeline "
            f"{pipeline_rates[-1]:.1f} chunks/s ({report.seconds:.1f} s, {cpu:.1f} CPU-s)",
            flush=True,
        )
    encode, pipeline = max(encode_rates), max(pipeline_rates)
    print(f"encode alone (the limit): {encode:.1f} chunks/s")
    print(
        f"ragserve ingest pipeline: {pipeline:.1f} chunks/s, {pipeline * len(pages) / n:.2f} "
        f"pages/s, {pipeline * tokens / n:.0f} tokens/s"
    )
    print(f"ratio pipeline / encode alone: {pipeline / encode:.1%}")
    save(
        "ingest_html",
        {
            "pages": len(pages),
            "chunks": n,
            "tokens": tokens,
            "ms_per_chunk": {
                "html_load": parse_s / n * 1e3,
                "chunking": chunk_s / n * 1e3,
                "bm25_terms": terms_s / n * 1e3,
            },
            "encode_chunks_per_s": encode_rates,
            "pipeline_chunks_per_s": pipeline_rates,
            "pipeline_cpu_s": pipeline_cpu,
            "ratio": pipeline / encode,
        },
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
