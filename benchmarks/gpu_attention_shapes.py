"""The embedder's direct path on repeated vs ever-new batch shapes, cuDNN attention on vs off.

Why: behind the batcher every merged call is a new mix of requests, so nearly every forward
pass has a (batch, length) shape never seen before; a benchmark that embeds one fixed list
again and again sees the same shapes each time. PyTorch's cuDNN attention backend (preferred
on Hopper) builds a plan per new shape, which only the second kind of run hides.

Side by side in one run, on the same texts and the same model:
- ``repeated``: one 786-text call (the size of a merged call under 64 clients) 20 times;
- ``new shapes``: 20 calls of random subsets of 130–2,048 texts;
each with cuDNN attention allowed (PyTorch's default) and disabled (what CudaEmbedder does).

    python -m benchmarks.gpu_attention_shapes --minilm DIR
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.gpu_embed_workload import chunk_texts
from ragserve.embed.cuda import CudaEmbedder
from ragserve.embed.token_ids import encode


def rate(embedder: CudaEmbedder, calls: list[list[str]]) -> float:
    """Tokens per second over ``calls`` (after one warm-up call)."""
    tokens = sum(
        int(np.minimum(encode(embedder._ids, c).full, embedder.max_tokens).sum()) for c in calls
    )
    embedder.embed_passages(calls[0])
    torch.cuda.synchronize()
    started = time.perf_counter()
    for call in calls:
        embedder.embed_passages(call)
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    texts = chunk_texts(args.minilm / "tokenizer.json", 20000, seed=5)
    embedder = CudaEmbedder(str(args.minilm.resolve()), model_id="shapes")
    rng = random.Random(7)
    repeated = [texts[:786]] * args.calls
    fresh = [rng.sample(texts, rng.randint(130, 2048)) for _ in range(args.calls + 1)]
    rows = {}
    for cudnn in (True, False):
        torch.backends.cuda.enable_cudnn_sdp(cudnn)
        label = "cuDNN allowed (PyTorch default)" if cudnn else "cuDNN off (CudaEmbedder)"
        rows[label] = {"repeated": rate(embedder, repeated), "new shapes": rate(embedder, fresh)}
        print(label, json.dumps(rows[label]), flush=True)
    embedder.close()
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}: M tokens/s")
    print(f"{'attention':<34} {'repeated':>9} {'new shapes':>11}")
    for label, r in rows.items():
        print(f"{label:<34} {r['repeated'] / 1e6:>9.2f} {r['new shapes'] / 1e6:>11.2f}")


if __name__ == "__main__":
    main()
