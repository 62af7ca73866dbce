"""Answer quality on the embedded default: correctness, citations and latency per model × mode.

For each question of a split, ragserve's own answer path (``AnswerService.stream``, the code
``/api/chat`` and ``/v1`` run) retrieves and answers; the script records

- **answer**: the reference answer occurs in the answer (case and whitespace ignored);
- **cited**: a cited passage comes from one of the question's expected pages;
- **answer+cited**: both — the issue's goal for fact questions is at least 60 %;
- TTFT (first streamed piece) and total time, p50 / p99.

Each row's answer+cited rate is printed against the baseline row, the first one (SmolLM2-135M
generating, as shipped), measured in the same run. The physical limit beside it: the share
of questions whose reference answer is in the passages retrieved at all (no answer mode can
do better without better retrieval).

The collections are the evaluation data dirs (``/work/evaldata/*``, see
``benchmarks/retrieval_eval.py``), copied to a temporary folder first: opening a data dir
writes to it. English: the questions whose expected pages are all in the collection.

    nice -n 10 python -m benchmarks.answer_quality en --split test --mode generate,extractive
    nice -n 10 python -m benchmarks.answer_quality ko --split test \\
        --gguf qwen=/path/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf --limit 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import OUT, machine, percentiles
from ragserve.config import Settings
from ragserve.errors import BackendError
from ragserve.eval.metrics import source_matches
from ragserve.eval.questions import Question, load_questions, select_split
from ragserve.rag.answer import DoneEvent
from ragserve.runtime import Runtime

ROOT = Path(__file__).resolve().parent
SETS: dict[str, dict[str, Any]] = {
    "en": {
        "qa": ROOT / "eval" / "python311-en.jsonl",
        "data": "en-small-all-minilm-l6-v2-int8",
        "collection": "pydocs",
        # Dense: the data dirs' keyword indexes were made by an older term tokenizer.
        "env": {
            "RAGSERVE_EMBED_MODEL": "all-MiniLM-L6-v2-int8",
            "RAGSERVE_RETRIEVAL_MODE": "dense",
        },
    },
    # The whole manual (530 pages, 21,672 chunks; issue 13's second pass), with the default
    # retrieval mode: its keyword index is current.
    "en-full": {
        "qa": ROOT / "eval" / "python311-en.jsonl",
        "data": "en-full-all-minilm-l6-v2-int8",
        "collection": "pydocs",
        "env": {"RAGSERVE_EMBED_MODEL": "all-MiniLM-L6-v2-int8"},
    },
    "ko": {
        "qa": ROOT / "eval" / "gimp-ko.jsonl",
        "data": "ko-korean-multilingual-e5-small-q4",
        "collection": "gimp",
        "env": {
            "RAGSERVE_EMBED_MODEL": "multilingual-e5-small-q4",
            "RAGSERVE_RETRIEVAL_MODE": "dense",
        },
    },
}


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def contains(answer: str, reference: str) -> bool:
    return normalized(reference) in normalized(answer)


def bring_schema_up(data: Path) -> None:
    """The evaluation data dirs were written by a branch whose migrations were numbered
    differently (its 0003 is this tree's 0003, but without 0002's and 0004's columns):
    add those columns to the copy, so the migrations see a current schema."""
    with sqlite3.connect(data / "ragserve.db") as db:
        (version,) = db.execute("select version_num from alembic_version").fetchone()
        if version >= "0004":  # written by this tree: nothing to bring up
            return
        have = {row[1] for row in db.execute("pragma table_info(documents)")}
        for column, kind in (("size_bytes", "INTEGER"), ("progress", "FLOAT")):
            if column not in have:
                db.execute(f"alter table documents add column {column} {kind}")
        have = {row[1] for row in db.execute("pragma table_info(conversations)")}
        for column, kind in (
            ("title", "VARCHAR(200)"),
            ("created_at", "DATETIME NOT NULL DEFAULT '2026-01-01 00:00:00'"),
            ("message_count", "INTEGER NOT NULL DEFAULT 0"),
        ):
            if column not in have:
                db.execute(f"alter table conversations add column {column} {kind}")
        db.execute("update alembic_version set version_num = '0004'")


def covered(questions: list[Question], data: Path) -> list[Question]:
    """The questions whose expected pages are all in the collection."""
    with sqlite3.connect(data / "ragserve.db") as db:
        sources = [row[0] for row in db.execute("select source from documents")]
    return [
        q
        for q in questions
        if all(any(source_matches(e.path, s) for s in sources) for e in q.expected)
    ]


async def run_one(runtime: Runtime, q: Question, collection: str, mode: str) -> dict[str, Any]:
    started = time.perf_counter()
    first: float | None = None
    result = None
    try:
        async for ev in runtime.answers.stream(q.question, collection, answer_mode=mode):  # type: ignore[arg-type]
            if isinstance(ev, DoneEvent):
                result = ev.result
            elif first is None:
                first = (time.perf_counter() - started) * 1000
    except BackendError as exc:
        # An answer past RAGSERVE_LLM_TOTAL_TIMEOUT_S (600 s) is a wrong one, as for a user.
        total = (time.perf_counter() - started) * 1000
        return {"id": q.id, "type": q.tags.get("type", ""), "mode": mode, "answer": "",
                "error": str(exc), "answered": False, "cited": False, "answered_cited": False,
                "in_passages": False, "ttft_ms": first or total, "total_ms": total}  # fmt: skip
    total = (time.perf_counter() - started) * 1000
    assert result is not None
    ref = q.reference_answer or ""
    cited = any(source_matches(e.path, c.source) for c in result.citations for e in q.expected)
    answered = bool(ref) and contains(result.answer, ref)
    return {
        "id": q.id,
        "type": q.tags.get("type", ""),
        "mode": result.answer_mode,
        "answer": result.answer,
        "answered": answered,
        "cited": cited,
        "answered_cited": answered and cited,
        "in_passages": bool(ref) and any(contains(s.text, ref) for s in result.sources),
        "ttft_ms": first if first is not None else total,
        "total_ms": total,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def rate(key: str, subset: list[dict[str, Any]]) -> float:
        return sum(r[key] for r in subset) / len(subset) if subset else float("nan")

    facts = [r for r in rows if r["type"] == "fact"]
    return {
        "n": len(rows),
        "n_fact": len(facts),
        "answered": rate("answered", rows),
        "cited": rate("cited", rows),
        "answered_cited": rate("answered_cited", rows),
        "fact_answered_cited": rate("answered_cited", facts),
        "ceiling": rate("in_passages", rows),
        "fact_ceiling": rate("in_passages", facts),
        "ttft": percentiles([r["ttft_ms"] for r in rows]),
        "total": percentiles([r["total_ms"] for r in rows]),
    }


def table(results: list[tuple[str, str, dict[str, Any]]]) -> str:
    head = (
        f"{'model':<22} {'mode':<10} {'n':>3} {'answer':>7} {'cited':>6} {'ans+cit':>8} "
        f"{'vs base':>8} {'fact a+c':>9} {'limit':>6} {'TTFT p50/p99 ms':>17} "
        f"{'total p50/p99 ms':>18}"
    )
    lines = [head, "-" * len(head)]
    base = results[0][2]["answered_cited"] if results else 0.0
    for model, mode, s in results:
        ratio = f"{s['answered_cited'] / base:.2f}x" if base else "  n/a"
        lines.append(
            f"{model:<22} {mode:<10} {s['n']:>3} {s['answered']:>7.0%} {s['cited']:>6.0%} "
            f"{s['answered_cited']:>8.0%} {ratio:>8} {s['fact_answered_cited']:>9.0%} "
            f"{s['ceiling']:>6.0%} {s['ttft']['p50']:>8.0f}/{s['ttft']['p99']:<8.0f} "
            f"{s['total']['p50']:>9.0f}/{s['total']['p99']:<8.0f}"
        )
    return "\n".join(lines)


async def run_model(
    settings: Settings, questions: list[Question], collection: str, modes: list[str]
) -> dict[str, list[dict[str, Any]]]:
    with Runtime(settings) as runtime:
        # Load the embedder and start the chat model outside the timed questions.
        await runtime.answers.stream(
            questions[0].question, collection, answer_mode="extractive"
        ).__anext__()
        if "generate" in modes:
            await runtime.chain.model_name()
        out: dict[str, list[dict[str, Any]]] = {}
        OUT.mkdir(exist_ok=True)
        for mode in modes:
            out[mode] = []
            for q in questions:
                row = await run_one(runtime, q, collection, mode)
                out[mode].append(row)
                # Each answer as it comes: a long run stopped halfway still says something.
                with (OUT / "answer-quality-progress.jsonl").open("a") as progress:
                    progress.write(json.dumps({"gguf": str(settings.embedded_gguf), **row}) + "\n")
        await runtime.chain.aclose()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", choices=sorted(SETS))
    parser.add_argument("--split", default="test")
    parser.add_argument("--mode", default="generate,extractive")
    parser.add_argument(
        "--gguf",
        action="append",
        default=[],
        help="NAME=PATH: another embedded model to compare (SmolLM2 is always the first row)",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--type", default="", help="only questions of this type (fact...)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N questions")
    parser.add_argument("--data-root", type=Path, default=Path("/work/evaldata"))
    parser.add_argument("--tag", default="", help="suffix of the JSON log's name")
    parser.add_argument(
        "--no-packaged",
        action="store_true",
        help="leave out SmolLM2's generate row (it takes minutes an answer on 2 cores)",
    )
    parser.add_argument(
        "--data-suffix", default="", help="read the set's data dir with this suffix (-tables)"
    )
    args = parser.parse_args()
    spec = SETS[args.set]
    modes = args.mode.split(",")
    with tempfile.TemporaryDirectory(prefix="answer-quality-") as tmp:
        data = Path(tmp) / spec["data"]
        shutil.copytree(args.data_root / (spec["data"] + args.data_suffix), data)
        bring_schema_up(data)
        questions = [
            q
            for q in covered(select_split(load_questions(spec["qa"]), args.split), data)
            if q.reference_answer
        ]
        if args.type:
            questions = [q for q in questions if q.tags.get("type") == args.type]
        questions = questions[args.skip :]
        if args.limit:
            questions = questions[: args.limit]
        os.environ.update(spec["env"])
        models: list[tuple[str, Path | None]] = [("smollm2-135m", None)]
        # --no-packaged: SmolLM2's extractive row is model-free and stays; its generate row goes.
        modes_packaged = [m for m in modes if m == "extractive"] if args.no_packaged else modes
        for item in args.gguf:
            name, _, path = item.partition("=")
            models.append((name, Path(path)))
        results: list[tuple[str, str, dict[str, Any]]] = []
        log: dict[str, Any] = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M"),
                               "set": args.set, "split": args.split, "rows": {}}  # fmt: skip
        for name, gguf in models:
            only_generate = [m for m in modes if m != "extractive"] if gguf else modes_packaged
            if not only_generate:
                continue
            settings = Settings(data_dir=data, embedded_gguf=gguf)
            rows = asyncio.run(run_model(settings, questions, spec["collection"], only_generate))
            for mode, mode_rows in rows.items():
                results.append((name, mode, summary(mode_rows)))
                log["rows"][f"{name}/{mode}"] = {"summary": results[-1][2], "questions": mode_rows}
    print(f"{args.set} {args.split}: {len(questions)} questions; {machine()}")
    print(table(results))
    OUT.mkdir(exist_ok=True)
    path = OUT / f"answer-quality-{args.set}-{args.split}{args.tag}.json"
    path.write_text(json.dumps(log, indent=2, ensure_ascii=False))
    print(f"details: {path}")


if __name__ == "__main__":
    main()
