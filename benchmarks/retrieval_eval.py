"""Retrieval quality per embedding model and retrieval mode, on the committed evaluation sets.

For each model: ingest the set's manual into its own data dir under ``--data-root`` when that
collection is not there yet (``nice -n 10 ragserve ingest``, timed), then ``ragserve eval`` on
the chosen split over the modes; JSON reports go to ``benchmarks/logs/eval/``. Prints one
side-by-side table with each row's MRR@10 and recall@1 against the baseline row, today's
default: MiniLM int8, dense, measured in the same run (its report is reused when present).

    python -m benchmarks.retrieval_eval en --split dev --model all-MiniLM-L6-v2-int8 \\
        --model multilingual-e5-small-q4 --mode dense,sparse,hybrid
    python -m benchmarks.retrieval_eval ko --split test --model multilingual

The physical limit beside each figure is 1.0 (every question's page ranked first).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import machine

ROOT = Path(__file__).resolve().parent
LOGS = ROOT / "logs" / "eval"
BASELINE = ("all-MiniLM-L6-v2-int8", "dense")

#: Each set: its QA file, the folders and pages to ingest, the collection name.
SETS: dict[str, dict[str, Any]] = {
    "en": {
        "qa": ROOT / "eval" / "python311-en.jsonl",
        "root": Path("/usr/share/doc/python3.11/html"),
        # The HTML pages; `_sources/` holds a plain-text copy of each page and `_static/`,
        # `_images/`, `_downloads/` are assets (see RESULTS.md, "Retrieval quality").
        "skip": ("_sources", "_static", "_images", "_downloads"),
        "collection": "pydocs",
    },
    "ko": {
        "qa": ROOT / "eval" / "gimp-ko.jsonl",
        "root": Path("/usr/share/gimp/2.0/help/ko"),
        "skip": (),
        "collection": "gimp",
    },
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def ragserve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = ["nice", "-n", "10", sys.executable, "-m", "ragserve", *args]
    return subprocess.run(command, env=env, text=True, capture_output=True, check=False)


def expected_pages(spec: dict[str, Any]) -> list[Path]:
    """Every page some question of the set expects (both splits: the corpus is shared)."""
    pages: set[str] = set()
    for line in Path(spec["qa"]).read_text().splitlines():
        for e in json.loads(line)["expected_sources"] if line.strip() else []:
            pages.add(e if isinstance(e, str) else e["source"])
    return [spec["root"] / p for p in sorted(pages)]


#: ``--corpus small``: only questions whose expected pages all have at most this many
#: characters of visible text, and only those pages (the whole set did not fit the time).
SMALL_PAGE_CHARS = 40_000


def visible_text(path: Path) -> str:
    return re.sub(r"(?s)<(script|style).*?</\1>|<[^>]+>", " ", path.read_text(errors="replace"))


def small_questions(spec: dict[str, Any]) -> list[str]:
    """The QA lines whose expected pages are all small (see ``SMALL_PAGE_CHARS``)."""
    keep = []
    for line in Path(spec["qa"]).read_text().splitlines():
        if not line.strip():
            continue
        pages = [
            e if isinstance(e, str) else e["source"] for e in json.loads(line)["expected_sources"]
        ]
        if all(
            len(re.sub(r"\s+", " ", html.unescape(visible_text(spec["root"] / p))))
            <= SMALL_PAGE_CHARS
            for p in pages
        ):
            keep.append(line)
    return keep


def qa_file(spec: dict[str, Any], corpus: str, name: str) -> Path:
    if corpus != "small":
        return Path(spec["qa"])
    out = ROOT / "out" / f"{name}-small.jsonl"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(small_questions(spec)) + "\n")
    return out


def hangul_share(path: Path) -> float:
    """Hangul letters among the Hangul and Latin letters of a page's visible text."""
    text = re.sub(r"(?s)<(script|style).*?</\1>|<[^>]+>", " ", path.read_text(errors="replace"))
    hangul = len(re.findall(r"[\uac00-\ud7a3]", text))
    return hangul / (hangul + len(re.findall(r"[A-Za-z]", text)) + 1)


def ingest_paths(spec: dict[str, Any], corpus: str) -> list[str]:
    """``full``: the manual's folder; ``expected``: only pages some question expects;
    ``korean``: only pages whose text is at least 20 % Hangul (the translated ones)."""
    root: Path = spec["root"]
    if corpus in ("expected", "small"):  # for `small`, spec["qa"] holds the small questions
        return [str(p) for p in expected_pages(spec)]
    if corpus == "korean":
        return [str(p) for p in sorted(root.rglob("*.html")) if hangul_share(p) >= 0.2]
    # Folders, and the pages at the top (named files are ingested whatever their suffix).
    return [
        str(p)
        for p in sorted(root.iterdir())
        if p.name not in spec["skip"] and (p.is_dir() or p.suffix == ".html")
    ]


def ensure_ingested(
    name: str, spec: dict[str, Any], model: str, data: Path, extra: dict[str, str], corpus: str
) -> dict[str, Any]:
    """Ingest once per data dir; the record of that ingest (seconds, summary) is kept beside it."""
    record = data / "ingest-record.json"
    if record.exists():
        return dict(json.loads(record.read_text()))
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAGSERVE_DATA_DIR": str(data), "RAGSERVE_EMBED_MODEL": model, **extra}
    print(f"ingesting {name} with {model} into {data} ...", flush=True)
    paths = ingest_paths(spec, corpus)
    started = time.perf_counter()
    done = ragserve(["ingest", *paths, "-c", spec["collection"]], env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"ingest failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    out = {
        "model": model,
        "seconds": round(seconds, 1),
        "summary": done.stdout.strip()[-2000:],
        "corpus": corpus,
        "paths": len(paths),
        "machine": machine(),
        "time": time.strftime("%Y-%m-%d %H:%M"),
        "env": extra,
    }
    record.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"  {seconds:.0f} s", flush=True)
    return out


def run_eval(
    name: str,
    spec: dict[str, Any],
    model: str,
    data: Path,
    modes: str,
    split: str,
    tag: str,
    extra: dict[str, str],
    rerun: bool,
) -> dict[str, Any]:
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS / f"{data.name}-{split}.json"
    if out.exists() and not rerun:
        report = json.loads(out.read_text())
        if all(m in report["modes"] for m in modes.split(",")):
            return dict(report)
    env = {**os.environ, "RAGSERVE_DATA_DIR": str(data), "RAGSERVE_EMBED_MODEL": model, **extra}
    args = [
        "eval",
        str(spec["qa"]),
        "-c",
        spec["collection"],
        "--split",
        split,
        "--mode",
        modes,
        "--json",
        str(out),
    ]
    html = os.environ.get("RETRIEVAL_EVAL_HTML")
    if html:
        args += ["--html", html]
    done = ragserve(args, env)
    if done.returncode != 0:
        sys.exit(f"eval failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(out.read_text()))


def table(rows: list[tuple[str, str, dict[str, Any]]], base: dict[str, Any] | None) -> str:
    keys = ["recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    lines = [
        "| model | mode | "
        + " | ".join(keys)
        + " | p50 ms | MRR@10 vs baseline | R@1 vs baseline |",
        "| --- | --- |" + " ---: |" * (len(keys) + 3),
    ]
    for model, mode, m in rows:
        cells = [f"{m[k]:.3f}" for k in keys]
        if base is not None:
            d_mrr = m["mrr@10"] - base["mrr@10"]
            d_r1 = m["recall@1"] - base["recall@1"]
            vs = [
                f"{d_mrr:+.3f} (×{m['mrr@10'] / base['mrr@10']:.2f})"
                if base["mrr@10"]
                else f"{d_mrr:+.3f}",
                f"{d_r1:+.3f}",
            ]
        else:
            vs = ["", ""]
        latency = m.get("latency_ms_p50", "")
        lat = f"{latency:.1f}" if isinstance(latency, int | float) else ""
        lines.append(
            f"| {model} | {mode} | " + " | ".join(cells) + f" | {lat} | " + " | ".join(vs) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", choices=sorted(SETS))
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--model", action="append", help="Embedding model (repeatable).")
    parser.add_argument("--mode", default="dense", help="Modes, comma-separated.")
    parser.add_argument("--corpus", default="full", choices=["full", "expected", "korean", "small"])
    parser.add_argument("--data-root", type=Path, default=Path("/work/evaldata"))
    parser.add_argument("--tag", default="", help="Suffix of data dir and report names.")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for ragserve.")
    parser.add_argument("--rerun", action="store_true", help="Evaluate again even if saved.")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    spec = SETS[args.set]
    spec = {**spec, "qa": qa_file(spec, args.corpus, args.set)}
    extra = dict(kv.split("=", 1) for kv in args.env)
    models = args.model or [BASELINE[0]]
    print(f"machine: {machine()}")
    rows: list[tuple[str, str, dict[str, Any]]] = []
    base: dict[str, Any] | None = None
    if not args.no_baseline:
        data = args.data_root / f"{args.set}-{args.corpus}-{slug(BASELINE[0])}"
        ensure_ingested(args.set, spec, BASELINE[0], data, {}, args.corpus)
        report = run_eval(args.set, spec, BASELINE[0], data, BASELINE[1], args.split, "", {}, False)
        base = report["metrics"][BASELINE[1]]
        rows.append((BASELINE[0] + " (baseline)", BASELINE[1], base))
    for model in models:
        data = args.data_root / f"{args.set}-{args.corpus}-{slug(model)}{args.tag}"
        record = ensure_ingested(args.set, spec, model, data, extra, args.corpus)
        report = run_eval(
            args.set, spec, model, data, args.mode, args.split, args.tag, extra, args.rerun
        )
        print(
            f"{model}: ingest {record['seconds']} s; eval {report['seconds']} s, "
            f"{report['questions']} questions ({args.split})"
        )
        for mode in args.mode.split(","):
            rows.append((model + args.tag, mode, report["metrics"][mode]))
    print()
    print(table(rows, base))


if __name__ == "__main__":
    main()
