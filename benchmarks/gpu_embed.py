"""The CUDA embedder against its ceilings, side by side in one run (issue 17).

For MiniLM-L6 (real fp16 weights) and BERT-base (random weights), on chunk-like texts of
150–250 tokens, tokens/s counted the same way everywhere (real tokens, [CLS]/[SEP] included,
padding not):
- ceiling: the bare fp16 encoder forward on length-sorted, pre-tokenised, pre-padded batches
  already on the GPU (no tokenising, no pooling, no copies), best token budget;
- sentence-transformers ``encode()`` (fp32 as loaded, and fp16), its usual batch sizes;
- ragserve's CudaEmbedder called directly, as ingestion calls it (tokenising included);
- the MergingEmbedder in front of it under 64 concurrent callers of 32 texts each, sized as
  the server sizes it (api/state.py), i.e. /v1/embeddings without HTTP;
and the fp16 vectors against the CPU path's (fp32 sentence-transformers, computed on the
developer machine from the original weights, and fp32 on this machine's CPU).

    python -m benchmarks.gpu_embed --minilm DIR [--texts 20000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.gpu_embed_workload import chunk_texts, random_bert
from ragserve.embed.batch_planning import plan_batches
from ragserve.embed.cuda import POOL_WAVE_TEXTS, BatchStats, CudaEmbedder
from ragserve.embed.request_merging import INTERACTIVE, MergingEmbedder
from ragserve.embed.token_ids import encode, pad_rows

BUDGETS = [16384, 32768, 65536, 131072, 262144]


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs after one warm-up, device work included."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def tokenizing(embedder: CudaEmbedder, texts: list[str], repeat: int) -> dict[str, float]:
    """The CPU side alone, tokens/s: threads in this process vs worker processes, then the
    whole preparation (tokenising, planning, padding, pinning) as the embedder runs it."""
    tokens = token_count(embedder, texts)
    rates = {
        # The limit people hit: Hugging Face tokenizers' own batch call on every core
        # (Rust threads, full BERT normalizer), ids not even read back into Python.
        "HF encode_batch, all cores": tokens
        / timed(lambda: embedder._ids.encode_batch(texts), repeat),
        "threads (ASCII fast path)": tokens / timed(lambda: embedder._tokenize(texts), repeat),
    }
    if embedder._pool is not None:
        pool = embedder._pool
        rates[f"processes ({pool.processes})"] = tokens / timed(lambda: pool.encode(texts), repeat)
    rates["prepare (tokenise, plan, pad, pin)"] = tokens / timed(
        lambda: [embedder._batches(o, ids) for o, ids in embedder._waves(texts)], repeat
    )
    # The caller's thread with tokenising taken out: what it can feed the GPU at most.
    waves = list(embedder._waves(texts))
    rates["plan, pad, pin of tokenised waves"] = tokens / timed(
        lambda: [embedder._batches(o, ids) for o, ids in waves], repeat
    )

    def feed() -> None:
        with torch.inference_mode():
            for o, ids in waves:
                for b in embedder._batches(o, ids):
                    embedder._run(b)

    rates["feed: plan, pad, pin, copy, forward of tokenised waves"] = tokens / timed(feed, repeat)
    return rates


def profile_call(embedder: CudaEmbedder, texts: list[str]) -> str:
    """Where the caller's thread spends one direct call (cProfile sees that thread only)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    embedder.embed_passages(texts)
    sync()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


def token_count(embedder: CudaEmbedder, texts: list[str]) -> int:
    """Real tokens the model reads: special tokens included, truncation applied."""
    full = encode(embedder._ids, texts).full
    return int(np.minimum(full, embedder.max_tokens).sum())


def ceiling(embedder: CudaEmbedder, texts: list[str], repeat: int) -> dict[str, float]:
    """Bare forward on length-sorted batches already on the device, per token budget."""
    ids = encode(embedder._ids, texts)
    lengths = np.minimum(ids.full, embedder.max_tokens).tolist()
    rates = {}
    for budget in BUDGETS:
        batches = []
        for batch in plan_batches(lengths, budget, 1 << 20):
            matrix, kept = pad_rows(ids, batch, max_tokens=embedder.max_tokens, closing=1, pad_id=0)
            on_device = torch.from_numpy(matrix).to(embedder.device)
            width = on_device.shape[1]
            kept_on_device = torch.from_numpy(kept).to(embedder.device)
            # A ready 4-D mask, as the embedder passes it: nothing waits for the GPU.
            mask = torch.arange(width, device=embedder.device)[None, :] < kept_on_device[:, None]
            batches.append((on_device, mask[:, None, None, :]))

        def run(
            batches: list[tuple[torch.Tensor, torch.Tensor]] = batches,
            encoder: torch.nn.Module = embedder._encoder,
        ) -> None:
            with torch.inference_mode():
                for ids, mask in batches:
                    encoder(
                        input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)
                    )

        rates[str(budget)] = sum(lengths) / timed(run, repeat)
        del batches
    return rates


def st_encode(folder: Path, texts: list[str], tokens: int, device: str) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    rates = {}
    model = SentenceTransformer(str(folder), device=device).float()  # the weights are fp16
    for label in ("fp32", "fp16"):
        if label == "fp16":
            model = model.half()
        for batch in (32, 256):

            def encode(m: SentenceTransformer = model, b: int = batch) -> object:
                return m.encode(texts, batch_size=b, convert_to_numpy=True)

            rates[f"{label} batch {batch}"] = tokens / timed(encode, 1)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return rates


def direct(embedder: CudaEmbedder, texts: list[str], tokens: int, repeat: int) -> dict[str, Any]:
    """embed_passages on the whole workload, as ingestion calls it: per token budget with
    tokenising in worker processes, per wave size, and with threads only (the old path)."""
    rates: dict[str, Any] = {}
    for budget in BUDGETS:
        embedder.batch_tokens = budget
        rates[str(budget)] = tokens / timed(lambda: embedder.embed_passages(texts), repeat)
    embedder.batch_tokens = 65536
    for wave in (1024, 4096):
        embedder.pool_wave_texts = wave
        rates[f"pool wave {wave}"] = tokens / timed(lambda: embedder.embed_passages(texts), repeat)
    embedder.pool_wave_texts = POOL_WAVE_TEXTS
    pool, embedder._pool = embedder._pool, None
    rates["threads only"] = tokens / timed(lambda: embedder.embed_passages(texts), repeat)
    embedder._pool = pool
    embedder.stats = BatchStats()
    embedder.embed_passages(texts)
    rates["padding_efficiency"] = embedder.stats.padding_efficiency
    return rates


def merged(
    embedder: CudaEmbedder, texts: list[str], max_batch: int, clients: int, seconds: float
) -> dict[str, float]:
    """64 callers in a closed loop, 32 texts a call, through the server's batcher."""
    tokens_per_text = token_count(embedder, texts) / len(texts)
    merge = max(8, min(max_batch, 65536 // 32))  # as api/state.py sizes it
    batcher = MergingEmbedder(embedder, max_batch=merge, delay_s=0.002, piece_tokens=65536)
    done = [0] * clients
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def client(k: int) -> None:
        i = k * 32
        while time.perf_counter() < stop:
            chunk = [texts[(i + j) % len(texts)] for j in range(32)]
            t0 = time.perf_counter()
            batcher.submit("passage", chunk, INTERACTIVE).result()
            with lock:
                latencies.append(time.perf_counter() - t0)
            done[k] += 32
            i += clients * 32

    batcher.submit("passage", texts[:64], INTERACTIVE).result()
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    batcher.close()
    return {
        "tokens_per_s": sum(done) * tokens_per_text / elapsed,
        "merge": merge,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)) if latencies else -1.0,
        "p99_ms": 1000 * float(np.percentile(latencies, 99)) if latencies else -1.0,
    }


def cosine_check(folder: Path, embedder: CudaEmbedder, n: int) -> dict[str, float]:
    """fp16 on the GPU against the CPU path: fp32 on this machine's CPU from the same stored
    weights, and, when they travelled, the developer machine's fp32 vectors from the
    original weights."""
    reference_texts = folder.parent / "minilm_reference_texts.json"
    texts = (
        json.loads(reference_texts.read_text())[:n]
        if reference_texts.exists()
        else chunk_texts(folder / "tokenizer.json", n, seed=1)
    )
    gpu = embedder.embed_passages(texts)
    cpu = CudaEmbedder(str(folder), model_id="cpu", device="cpu")
    on_cpu = cpu.embed_passages(texts[:512])
    vs_cpu = (gpu[:512] * on_cpu).sum(axis=1)
    report = {"texts": len(texts), "min_vs_local_cpu_fp32": float(vs_cpu.min())}
    if reference_texts.exists():
        reference = np.load(folder.parent / "minilm_cpu_reference.npy")[:n]
        vs_dev = (gpu * reference).sum(axis=1)
        bf16 = CudaEmbedder(str(folder), model_id="bf16", dtype="bfloat16")
        vs_bf16 = (bf16.embed_passages(texts) * reference).sum(axis=1)
        report |= {
            "min_vs_dev_cpu_fp32": float(vs_dev.min()),
            "mean_vs_dev_cpu_fp32": float(vs_dev.mean()),
            "bf16_min_vs_dev_cpu_fp32": float(vs_bf16.min()),
            "bf16_mean_vs_dev_cpu_fp32": float(vs_bf16.mean()),
        }
    return report


def model_report(
    name: str, folder: Path, texts: list[str], args: argparse.Namespace, check: bool
) -> dict[str, Any]:
    started = time.perf_counter()
    embedder = CudaEmbedder(str(folder), model_id=name)
    report: dict[str, Any] = {"load_s": time.perf_counter() - started}
    tokens = token_count(embedder, texts)
    report["tokens"] = tokens
    if check:
        report["cosine"] = cosine_check(folder, embedder, args.check_texts)
        print(name, "cosine", report["cosine"], flush=True)
    report["tokenizing"] = tokenizing(embedder, texts, args.repeat)
    print(name, "tokenizing", report["tokenizing"], flush=True)
    report["ceiling"] = ceiling(embedder, texts, args.repeat)
    print(name, "ceiling", report["ceiling"], flush=True)
    report["direct"] = direct(embedder, texts, tokens, args.repeat)
    print(name, "direct", report["direct"], flush=True)
    print(profile_call(embedder, texts), flush=True)
    report["merged"] = {
        str(mb): merged(embedder, texts, mb, args.clients, args.seconds) for mb in (128, 2048)
    }
    print(name, "merged", report["merged"], flush=True)
    st_texts = texts[: args.st_texts]
    report["st_encode"] = st_encode(
        folder, st_texts, token_count(embedder, st_texts), embedder.device
    )
    print(name, "st", report["st_encode"], flush=True)
    embedder.close()
    del embedder
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return report


def table(name: str, r: dict[str, Any]) -> str:
    ceil = max(r["ceiling"].values())
    direct_best = max(v for k, v in r["direct"].items() if k.isdigit())
    d64 = r["direct"]["65536"]
    st_best = max(r["st_encode"].values())
    rows = [
        ("bare fp16 forward ceiling (best budget)", ceil),
        ("sentence-transformers encode() fp32 b32", r["st_encode"]["fp32 batch 32"]),
        ("sentence-transformers encode() best", st_best),
        ("ragserve CudaEmbedder direct, 65,536 tok", d64),
        ("ragserve CudaEmbedder direct, best budget", direct_best),
        ("ragserve CudaEmbedder direct, threads only (before)", r["direct"]["threads only"]),
        ("MergingEmbedder, 64 callers × 32, max_batch 128", r["merged"]["128"]["tokens_per_s"]),
        ("MergingEmbedder, 64 callers × 32, max_batch 2048", r["merged"]["2048"]["tokens_per_s"]),
    ]
    lines = [
        f"\n{name}: {r['tokens']:,} tokens in the workload",
        f"{'path':<50} {'M tok/s':>8} {'/ceiling':>9} {'/ST fp32':>9} {'/direct':>8}",
    ]
    st32 = r["st_encode"]["fp32 batch 32"]
    for label, rate in rows:
        lines.append(
            f"{label:<50} {rate / 1e6:>8.2f} {rate / ceil:>9.1%} {rate / st32:>9.2f}x "
            f"{rate / d64:>7.1%}"
        )
    lines.append(f"padding efficiency of the direct path: {r['direct']['padding_efficiency']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", type=Path, required=True, help="fp16 MiniLM ST folder")
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--bert-texts", type=int, default=6000)
    parser.add_argument("--st-texts", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--check-texts", type=int, default=2048)
    parser.add_argument("--only", default="minilm,bert")
    parser.add_argument(
        "--budgets", default=",".join(map(str, BUDGETS)), help="token budgets to try"
    )
    args = parser.parse_args()
    BUDGETS[:] = [int(b) for b in args.budgets.split(",")]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"device: {device}, torch {torch.__version__}", flush=True)
    texts = chunk_texts(args.minilm / "tokenizer.json", args.texts, seed=2)
    reports: dict[str, Any] = {"device": device, "torch": torch.__version__}
    if "minilm" in args.only:
        reports["minilm"] = model_report("MiniLM-L6 fp16", args.minilm, texts, args, check=True)
    if "bert" in args.only:
        bert = random_bert(args.minilm, Path("/tmp/bert-base-random"))
        reports["bert"] = model_report(
            "BERT-base fp16 (random weights)", bert, texts[: args.bert_texts], args, check=False
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"gpu_embed_{args.only.replace(',', '_')}.json").write_text(
        json.dumps(reports, indent=2)
    )
    for key, title in (("minilm", "MiniLM-L6"), ("bert", "BERT-base")):
        if key in reports:
            print(table(title, reports[key]))
            print("CPU side alone (tokens/s):", json.dumps(reports[key]["tokenizing"]))
    if "minilm" in reports:
        print("cosine vs CPU path:", json.dumps(reports["minilm"]["cosine"]))


if __name__ == "__main__":
    main()
