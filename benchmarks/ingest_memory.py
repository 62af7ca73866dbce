"""Peak resident memory of ``ragserve serve`` indexing one huge one-line text file.

1. Writes a one-line text file of random words (default 50 MB, about 10 million words, no
   sentence punctuation: the whole file is one sentence, the worst case for a chunker).
2. Starts ``ragserve serve`` on a fresh data dir, uploads the file through the API, and
   samples the resident memory of the server process (and, separately, of the server with
   its parse children) every 100 ms until the job is done, fails, or a bound is hit.
3. Does the same with a baseline: the ``src/`` tree of another git revision (default: the
   base of this branch), exported with ``git archive`` and run side by side.

Embedding 10 million words takes most of an hour on 2 cores, so by default both servers
embed through the scripted OpenAI-compatible server of the tests (``--embedder scripted``,
instant 3-dim vectors): what is measured is ragserve's own parse → chunk → embed → write
path, run to the end. ``--embedder onnx`` uses the real packaged model instead, within
``--window-s`` seconds. A server past ``--rss-cap-mb`` is stopped and reported as "over".

    python -m benchmarks.ingest_memory [--mb 50] [--baseline-rev REV] [--embedder scripted]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from benchmarks._common import machine, save
from benchmarks._servers import ROOT, free_port, scripted_llm

WORDS = (
    "invoice shipment warehouse forklift pallet customs tariff audit ledger payroll pension "
    "vacation laptop badge parking canteen printer firewall backup server contract supplier "
    "the of and to in is it for on with as at by from or an be this that are was"
).split()


@dataclass
class Run:
    label: str
    peak_server_mib: float = 0.0
    peak_tree_mib: float = 0.0
    seconds: float = 0.0
    outcome: str = ""
    chunks: int = 0


def one_line_file(path: Path, megabytes: float) -> int:
    """A file of random words and single spaces with no newline; returns the word count."""
    rng = random.Random(10)
    target = int(megabytes * 1_000_000)
    words = 0
    size = 0
    with path.open("w") as out:
        while size < target:
            piece = " ".join(rng.choices(WORDS, k=10_000)) + " "
            out.write(piece)
            size += len(piece)
            words += 10_000
    return words


def _rss(proc: psutil.Process) -> tuple[int, int]:
    """Resident bytes of the server process alone, and with its children."""
    own = proc.memory_info().rss
    tree = own
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            tree += child.memory_info().rss
    return own, tree


def measure(
    label: str,
    src: Path,
    upload: Path,
    env: dict[str, str],
    work: Path,
    window_s: float,
    cap_mib: float,
) -> Run:
    """Serve with ``src`` on PYTHONPATH, upload ``upload``, sample RSS until done or a bound."""
    run = Run(label)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = work / f"data-{label}"
    env = {
        **env,
        "PYTHONPATH": str(src),
        "RAGSERVE_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
    }
    log = (work / f"serve-{label}.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "ragserve", "serve", "--port", str(port)],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc = psutil.Process(server.pid)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 180
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"{label}: server exited; see {log.name}")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{label}: server not ready")
                time.sleep(0.2)
            idle_mib = proc.memory_info().rss / 2**20
            print(f"{label}: ready, {idle_mib:.0f} MiB resident before the upload", flush=True)
            started = time.monotonic()
            with upload.open("rb") as handle:
                reply = client.post(
                    "/api/collections/bench/documents",
                    files={"files": (upload.name, handle, "text/plain")},
                )
            reply.raise_for_status()
            job = reply.json()["id"]
            last_poll = 0.0
            while True:
                if server.poll() is not None:
                    run.outcome = f"server died (exit {server.returncode})"
                    break
                try:
                    own, tree = _rss(proc)
                except psutil.Error:
                    continue
                run.peak_server_mib = max(run.peak_server_mib, own / 2**20)
                run.peak_tree_mib = max(run.peak_tree_mib, tree / 2**20)
                elapsed = time.monotonic() - started
                if run.peak_server_mib > cap_mib:
                    run.outcome = f"over the {cap_mib:.0f} MiB cap after {elapsed:.0f} s; stopped"
                    break
                if elapsed > window_s:
                    run.outcome = f"still indexing at the {window_s:.0f} s window; stopped"
                    break
                if elapsed - last_poll >= 1.0:
                    last_poll = elapsed
                    info = client.get(f"/api/jobs/{job}").json()
                    if info["done"]:
                        item = info["items"][0]
                        run.outcome = item["status"] + (
                            f": {item['error']}" if item["error"] else ""
                        )
                        run.chunks = item["chunks"]
                        break
                time.sleep(0.1)
            run.seconds = time.monotonic() - started
    finally:
        for child in proc.children(recursive=True):
            child.kill()
        server.kill()
        server.wait()
        log.close()
    return run


def export_src(rev: str, dest: Path) -> Path:
    """The ``src/`` tree of git revision ``rev``, written under ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=50.0, help="size of the one-line file")
    parser.add_argument(
        "--baseline-rev", help="git revision to compare with; default: where HEAD left main"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--embedder", choices=("scripted", "onnx"), default="scripted")
    parser.add_argument("--window-s", type=float, default=1800.0, help="longest run per server")
    parser.add_argument("--rss-cap-mb", type=float, default=6000.0, help="stop a server above")
    args = parser.parse_args()

    if args.baseline_rev is None:
        args.baseline_rev = subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True, capture_output=True
        ).stdout.decode()[:7]
    work = Path(tempfile.mkdtemp(prefix="ingest-memory-"))
    print(f"machine: {machine()}\nwork dir: {work}", flush=True)
    upload = work / "one-line.txt"
    words = one_line_file(upload, args.mb)
    print(f"{upload.name}: {upload.stat().st_size / 1e6:.0f} MB, {words:,} words, one line")

    runs: list[Run] = []
    with scripted_llm(work / "scripted.log") as scripted_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
        env |= {
            # The file is far past the default limits on purpose; lift them for the test.
            "RAGSERVE_INGEST_MAX_DOCUMENT_TOKENS": str(10**9),
            "RAGSERVE_MAX_TEXT_CHARS": str(10**9),
            # No embedded llama.cpp server: it is not what is measured.
            "RAGSERVE_LLM_BASE_URL": scripted_url,
            "RAGSERVE_LLM_MODEL": "scripted",
        }
        if args.embedder == "scripted":
            env |= {"RAGSERVE_EMBED_BASE_URL": scripted_url, "RAGSERVE_EMBED_MODEL": "scripted"}
        plan = [("this-tree", ROOT / "src")]
        if not args.no_baseline:
            plan.insert(
                0,
                (f"baseline-{args.baseline_rev}", export_src(args.baseline_rev, work / "baseline")),
            )
        for label, src in plan:
            run = measure(label, src, upload, env, work, args.window_s, args.rss_cap_mb)
            runs.append(run)
            print(
                f"{run.label}: peak RSS server {run.peak_server_mib:,.0f} MiB, with parse "
                f"children {run.peak_tree_mib:,.0f} MiB, {run.seconds:.0f} s, {run.chunks:,} "
                f"chunks — {run.outcome}",
                flush=True,
            )
    if len(runs) == 2 and runs[1].peak_server_mib:
        print(f"ratio this-tree / baseline (server): "
              f"{runs[1].peak_server_mib / runs[0].peak_server_mib:.2f}")  # fmt: skip
    save(
        "ingest_memory",
        {
            "megabytes": args.mb,
            "words": words,
            "embedder": args.embedder,
            "runs": [vars(r) for r in runs],
        },
    )


if __name__ == "__main__":
    main()
