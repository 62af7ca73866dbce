"""Default embedder choice: int8 ONNX MiniLM vs the fp32 sentence-transformers original.

Speed: passages/s at several batch sizes on the same chunk texts. Quality: cosine between
the two models' vectors for each passage, and how often both rank the same top-5 passages.

    python -m benchmarks.embedders
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._common import embed_rate, machine, save
from benchmarks.corpus import make_corpus
from ragserve.config import Settings
from ragserve.embed.registry import build_embedder
from ragserve.ingest.chunking import chunk_document
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes

BATCHES = (1, 2, 4, 8, 16, 32, 64)

_COLD_START = """
import sys, time
started = time.perf_counter()
from ragserve.config import Settings
from ragserve.embed.registry import build_embedder
build_embedder(Settings(embed_model=sys.argv[1])).embed_queries(["hello"])
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork + exec.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(time.perf_counter() - started, hwm)
"""


def cold_start(model: str) -> tuple[float, float]:
    """Seconds from a fresh interpreter to the first vector, and peak RSS in MiB."""
    out = subprocess.run(
        [sys.executable, "-c", _COLD_START, model],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    seconds, rss_kib = out.stdout.split()
    return float(seconds), float(rss_kib) / 1024


def chunk_texts(n_pages: int) -> list[str]:
    folder = Path(tempfile.mkdtemp())
    (path,) = make_corpus(folder, 1, n_pages)
    doc = parse_bytes(path, path.read_bytes(), ParseLimits(10**9, 10**9, 10**9))
    embedder = build_embedder(Settings())
    return [c.embedding_text() for c in chunk_document(doc, embedder.tokenizer, 200, 32)]


def throughput(settings: Settings, texts: list[str]) -> dict[int, float]:
    return {batch: embed_rate(settings, texts, batch) for batch in BATCHES}


def main() -> None:
    texts = chunk_texts(60)
    print(f"machine: {machine()}\n{len(texts)} passages of ~200 tokens")
    int8 = Settings(embed_model="all-MiniLM-L6-v2-int8")
    fp32 = Settings(embed_model="all-MiniLM-L6-v2")
    speed = {"onnx-int8": throughput(int8, texts), "st-fp32": throughput(fp32, texts)}
    print(f"{'batch':>6} {'int8 ONNX/s':>12} {'fp32 ST/s':>10} {'ratio':>6}")
    for b in BATCHES:
        a, f = speed["onnx-int8"][b], speed["st-fp32"][b]
        print(f"{b:>6} {a:>12.1f} {f:>10.1f} {a / f:>6.2f}")
    best_ratio = max(speed["onnx-int8"].values()) / max(speed["st-fp32"].values())
    print(f"best vs best: int8 ONNX is {best_ratio:.2f}x the fp32 throughput")

    v8 = build_embedder(int8).embed_passages(texts)
    v32 = build_embedder(fp32).embed_passages(texts)
    cosine = (v8 * v32).sum(axis=1)
    queries = [t.split(".")[0] for t in texts[::5]]
    q8 = build_embedder(int8).embed_queries(queries)
    q32 = build_embedder(fp32).embed_queries(queries)
    top8 = np.argsort(-(q8 @ v8.T), axis=1)[:, :5]
    top32 = np.argsort(-(q32 @ v32.T), axis=1)[:, :5]
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top8, top32, strict=True)])
    print(
        f"quality: cosine(int8, fp32) mean {cosine.mean():.4f} min {cosine.min():.4f}; "
        f"top-5 agreement {overlap:.3f}"
    )
    starts = {m: min(cold_start(m) for _ in range(3))
              for m in ("all-MiniLM-L6-v2-int8", "all-MiniLM-L6-v2")}  # fmt: skip
    for model, (seconds, rss) in starts.items():
        print(f"cold start {model}: {seconds:.2f} s to the first vector, peak RSS {rss:.0f} MiB")
    save("embedders", {"passages": len(texts), "speed": speed, "best_ratio": best_ratio,
                       "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()),
                       "top5_agreement": float(overlap), "cold_start": starts})  # fmt: skip


if __name__ == "__main__":
    main()
