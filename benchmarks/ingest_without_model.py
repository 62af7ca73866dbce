"""The ingest pipeline's capacity with the embedding model taken out, keyword side on and
off, side by side: what parsing, chunking, BM25 terms and writing sustain on this machine.

The model is replaced by a stand-in that returns unit vectors at once (a double, on purpose:
the question is what the rest of the pipeline can feed a GPU embedder, and on a machine
without a GPU the real model would be the only thing measured). Everything else is the real
pipeline: parse child processes, chunking with the model's tokenizer, the embedded Qdrant
Edge store, SQLite.

    python -m benchmarks.ingest_without_model [--files 60 --pages 50 --parallel 2]
        [--compare sparse|chunking]

``--compare sparse`` (the default) alternates the keyword side off and on; ``--compare
chunking`` alternates chunking (and cutting keyword vectors) in this process, the baseline as
before, and in the parse child processes (``RAGSERVE_INGEST_CHUNK_IN_PARSER``), keyword side
on; ``--compare payload`` alternates the stored payload built with ``dataclasses.asdict`` (as
before) and spelled out (``ChunkPayload.to_json`` now), keyword side on.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.gpu_embed_ingest import build_corpus
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend, TextTokenizer, Vectors
from ragserve.ingest.pipeline import IngestPipeline
from ragserve.runtime import Runtime
from ragserve.store.payload import ChunkPayload


class NoModel:
    """The runtime's embedder's tokenizer and shape, with vectors that cost nothing."""

    def __init__(self, inner: EmbeddingBackend) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.max_tokens = inner.max_tokens

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.inner.tokenizer

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.full((len(texts), self.dimension), self.dimension**-0.5, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)

    def close(self) -> None:
        pass


def run(
    corpus: Path, work: Path, parallel: int, sparse: bool, in_parser: bool = True
) -> tuple[float, int]:
    settings = Settings(
        data_dir=work, ingest_parallel=parallel, sparse=sparse, ingest_chunk_in_parser=in_parser
    )
    with Runtime(settings) as runtime:
        pipeline = IngestPipeline(
            settings, runtime.catalog, NoModel(runtime.embedder), parallel=parallel
        )
        started = time.perf_counter()
        report = pipeline.run([corpus], "bench")
        seconds = time.perf_counter() - started
    assert not report.failed, report.failed[:3]
    return seconds, report.chunks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compare", choices=("sparse", "chunking", "payload"), default="sparse")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    files = build_corpus(work / "corpus", args.files, args.pages)
    pages = args.files * args.pages
    print(
        f"{pages} pages in {len(files)} PDFs; {os.cpu_count()} cores, {args.parallel} parse workers"
    )
    if args.compare == "chunking":
        compare_chunking(work, pages, args.parallel)
        return
    if args.compare == "payload":
        compare_payload(work, pages, args.parallel)
        return
    rates: dict[bool, float] = {}
    for sparse in (False, True, False, True):  # alternated, best of two each
        seconds, chunks = run(
            work / "corpus", work / f"data-{sparse}-{time.time()}", args.parallel, sparse
        )
        rates[sparse] = max(rates.get(sparse, 0.0), pages / seconds)
        print(
            f"keyword side {'on ' if sparse else 'off'}: {chunks} chunks, {seconds:.1f} s, "
            f"{pages / seconds:.0f} pages/s"
        )
    print(
        f"\npages/s without the model: keyword side off {rates[False]:.0f}, on {rates[True]:.0f} "
        f"(ratio {rates[True] / rates[False]:.2f})"
    )


def compare_chunking(work: Path, pages: int, parallel: int) -> None:
    rates: dict[bool, float] = {}
    where = {False: "here (before)", True: "in the parse children (now)"}
    for in_parser in (False, True, False, True):  # alternated, best of two each
        data = work / f"data-chunking-{in_parser}-{time.time()}"
        seconds, chunks = run(work / "corpus", data, parallel, True, in_parser)
        rates[in_parser] = max(rates.get(in_parser, 0.0), pages / seconds)
        print(
            f"chunking {where[in_parser]:<27}: {chunks} chunks, {seconds:.1f} s, "
            f"{pages / seconds:.0f} pages/s"
        )
    print(
        f"\npages/s without the model, keyword side on: chunking here {rates[False]:.0f}, "
        f"in the parse children {rates[True]:.0f} (ratio {rates[True] / rates[False]:.2f})"
    )


def _payload_by_asdict(payload: ChunkPayload) -> dict[str, object]:
    """The payload as the writer built it before: ``asdict`` copies each field deeply."""
    out = asdict(payload)
    out["heading"] = list(payload.heading)
    return out


def compare_payload(work: Path, pages: int, parallel: int) -> None:
    spelled_out = ChunkPayload.to_json
    rates: dict[str, float] = {}
    for how in ("asdict (before)", "spelled out (now)") * 3:  # alternated, best of three
        ChunkPayload.to_json = _payload_by_asdict if how.startswith("asdict") else spelled_out  # type: ignore[method-assign,assignment]
        try:
            seconds, chunks = run(
                work / "corpus", work / f"data-payload-{time.time()}", parallel, True
            )
        finally:
            ChunkPayload.to_json = spelled_out  # type: ignore[method-assign]
        rates[how] = max(rates.get(how, 0.0), pages / seconds)
        print(f"payload {how:<17}: {chunks} chunks, {seconds:.1f} s, {pages / seconds:.0f} pages/s")
    before, now = rates["asdict (before)"], rates["spelled out (now)"]
    print(
        f"\npages/s without the model, keyword side on: payload by asdict {before:.0f}, "
        f"spelled out {now:.0f} (ratio {now / before:.2f})"
    )


if __name__ == "__main__":
    main()
