"""An evaluation run as a JSON document, a console table and one self-contained HTML page."""

from __future__ import annotations

import html
import os
import statistics
from typing import Any

from rich.console import Console
from rich.table import Table

from ragserve.eval.runner import EvalRun, Outcome


def display_root(run: EvalRun) -> str:
    """The folder every retrieved source shares; sources are shown relative to it."""
    sources = [p.source for o in run.outcomes for r in o.retrieval.values() for p in r.passages]
    absolute = [s for s in sources if os.path.isabs(s)]
    if not absolute or len(absolute) != len(sources):
        return ""
    root = os.path.commonpath(absolute)
    # A single document's own path is not a folder to strip.
    return root if root not in absolute else os.path.dirname(root)


def _short(source: str, root: str) -> str:
    return os.path.relpath(source, root) if root and source.startswith(root + os.sep) else source


def _latency(run: EvalRun, mode: str) -> dict[str, float]:
    values = sorted(o.retrieval[mode].latency_ms for o in run.outcomes)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return {"latency_ms_p50": round(statistics.median(values), 2), "latency_ms_p95": round(p95, 2)}


def to_json(run: EvalRun) -> dict[str, Any]:
    root = display_root(run)
    groups: dict[str, Any] = {}
    for tag, values in run.groups().items():
        groups[tag] = {
            value: {"n": len(outs), **{m: run.scores(m, outs) for m in run.modes}}
            for value, outs in sorted(values.items())
        }
    return {
        "collection": run.collection,
        "split": run.split,
        "questions": len(run.outcomes),
        "modes": run.modes,
        "ks": run.ks,
        "seconds": round(run.seconds, 2),
        "source_root": root,
        "metrics": {m: {**run.scores(m), **_latency(run, m)} for m in run.modes},
        "groups": groups,
        "answers": run.answer_scores(),
        "misses": {m: [o.question.id for o in run.misses(m)] for m in run.modes},
        "results": [_result(o, root) for o in run.outcomes],
    }


def _result(outcome: Outcome, root: str) -> dict[str, Any]:
    q = outcome.question
    answer = outcome.answer
    return {
        "id": q.id,
        "question": q.question,
        "split": q.split,
        "tags": q.tags,
        "expected": [
            {"source": e.path, "pages": sorted(e.pages)} if e.pages else e.path for e in q.expected
        ],
        "reference_answer": q.reference_answer,
        "modes": {
            name: {
                "rank": r.rank,
                "latency_ms": round(r.latency_ms, 2),
                "top": [
                    {"source": _short(p.source, root), "score": round(p.score, 4), "page": p.page}
                    for p in r.passages
                ],
            }
            for name, r in outcome.retrieval.items()
        },
        "answer": None
        if answer is None
        else {
            "text": answer.answer,
            "cited": [_short(c, root) for c in answer.cited],
            "contains": answer.contains,
            "exact": answer.exact,
            "citation_correct": answer.citation_correct,
            "citation_precision": answer.citation_precision,
        },
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_report(run: EvalRun, console: Console) -> None:
    doc = to_json(run)
    split = "" if run.split == "all" else f", split {run.split}"
    console.print(
        f"[bold]{run.collection}[/bold]: {len(run.outcomes)} questions{split} "
        f"in {run.seconds:.1f} s"
    )
    names = list(next(iter(doc["metrics"].values())))
    table = Table(title="Retrieval quality (means over questions)", title_justify="left")
    table.add_column("mode")
    for name in names:
        table.add_column(name.replace("latency_ms_", "ms "), justify="right")
    for mode, values in doc["metrics"].items():
        table.add_row(
            mode,
            *(f"{v:.1f}" if k.startswith("latency") else f"{v:.3f}" for k, v in values.items()),
        )
    console.print(table)

    for tag, values in doc["groups"].items():
        breakdown = Table(title=f"By {tag}", title_justify="left")
        breakdown.add_column(tag)
        breakdown.add_column("n", justify="right")
        for mode in run.modes:
            breakdown.add_column(f"{mode} R@1", justify="right")
            breakdown.add_column(f"{mode} MRR@10", justify="right")
        for value, row in values.items():
            cells = [value, str(row["n"])]
            for mode in run.modes:
                cells += [f"{row[mode]['recall@1']:.3f}", f"{row[mode]['mrr@10']:.3f}"]
            breakdown.add_row(*cells)
        console.print(breakdown)

    if doc["answers"] is not None:
        a = doc["answers"]
        console.print(
            f"Answers ({a['answered']}): contains {a['contains']:.3f}, exact {a['exact']:.3f}, "
            f"citation correct {a['citation_correct']:.3f}, "
            f"citation precision {a['citation_precision']:.3f}"
        )

    by_id = {r["id"]: r for r in doc["results"]}
    k = max(run.ks)
    for mode in run.modes:
        missed = doc["misses"][mode]
        console.print(f"\n[bold]Misses, {mode}[/bold] (no expected source in the top {k}): "
                      f"{len(missed)}")  # fmt: skip
        for qid in missed:
            r = by_id[qid]
            got = [p["source"] for p in r["modes"][mode]["top"][:3]]
            expected = [e if isinstance(e, str) else e["source"] for e in r["expected"]]
            console.print(f"  {qid}  {_clip(r['question'], 90)}", highlight=False)
            console.print(
                f"      expected {', '.join(expected)}; got {', '.join(got) or 'nothing'}",
                style="dim", highlight=False,
            )  # fmt: skip


# --- HTML --------------------------------------------------------------------------------------
_CSS = """
body { font: 14px/1.45 system-ui, "Noto Sans CJK KR", "Malgun Gothic", "Apple SD Gothic Neo",
       NanumGothic, sans-serif; margin: 2rem; color: #222; max-width: 1200px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
td.text { max-width: 34rem; }
th { vertical-align: bottom; } td:first-child { white-space: nowrap; }
.bar { display: inline-block; height: .6rem; background: #1f77b4; vertical-align: middle;
       margin-right: .4rem; }
.miss { background: #fdecea; } .late { background: #fff8e1; }
.dim { color: #777; font-size: 12px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def render_html(run: EvalRun) -> str:
    doc = to_json(run)
    metric_names = [n for n in next(iter(doc["metrics"].values())) if not n.startswith("latency")]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>ragserve eval report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>ragserve eval report</h1>",
        f"<p>Collection <b>{_e(run.collection)}</b>, {len(run.outcomes)} questions, "
        f"split <b>{_e(run.split)}</b>, modes {_e(', '.join(run.modes))}; "
        f"{run.seconds:.1f} s. Sources relative to <code>{_e(doc['source_root'] or '.')}"
        "</code>.</p>",
        "<h2>Retrieval quality</h2><table class='metrics'><thead><tr><th>mode</th>",
        *(f"<th>{_e(n)}</th>" for n in metric_names),
        "<th>p50 ms</th></tr></thead><tbody>",
    ]
    for mode, values in doc["metrics"].items():
        parts.append(f"<tr><td>{_e(mode)}</td>")
        for n in metric_names:
            v = values[n]
            parts.append(f"<td><span class='bar' style='width:{v * 60:.0f}px'></span>{v:.3f}</td>")
        parts.append(f"<td>{values['latency_ms_p50']:.1f}</td></tr>")
    parts.append("</tbody></table>")

    for tag, groups in doc["groups"].items():
        parts.append(f"<h2>By {_e(tag)}</h2><table class='groups'><thead><tr>"
                     f"<th>{_e(tag)}</th><th>n</th>")  # fmt: skip
        parts += [f"<th>{_e(m)} R@1</th><th>{_e(m)} MRR@10</th>" for m in run.modes]
        parts.append("</tr></thead><tbody>")
        for value, row in groups.items():
            parts.append(f"<tr><td>{_e(value)}</td><td>{row['n']}</td>")
            parts += [
                f"<td>{row[m]['recall@1']:.3f}</td><td>{row[m]['mrr@10']:.3f}</td>"
                for m in run.modes
            ]
            parts.append("</tr>")
        parts.append("</tbody></table>")

    if doc["answers"] is not None:
        a = doc["answers"]
        parts.append(
            f"<h2>Answers</h2><p>{a['answered']} answered: contains {a['contains']:.3f}, "
            f"exact {a['exact']:.3f}, citation correct {a['citation_correct']:.3f}, "
            f"citation precision {a['citation_precision']:.3f}</p>"
        )

    k = max(run.ks)
    parts.append(
        f"<h2>Questions</h2><p class='dim'>Rank of the first expected source per mode; "
        f"red: none in the top {k}, yellow: found below rank 1.</p>"
        "<table class='questions'><thead><tr><th>id</th><th class='text'>question</th>"
        "<th class='text'>expected</th>"
    )
    parts += [f"<th>{_e(m)}</th><th class='text'>{_e(m)} first passage</th>" for m in run.modes]
    parts.append("</tr></thead><tbody>")
    for r in doc["results"]:
        ranks = [r["modes"][m]["rank"] for m in run.modes]
        worst = "miss" if any(x is None or x > k for x in ranks) else (
            "late" if any(x != 1 for x in ranks) else "")  # fmt: skip
        expected = ", ".join(e if isinstance(e, str) else e["source"] for e in r["expected"])
        parts.append(
            f"<tr class='{worst}'><td>{_e(r['id'])}</td><td class='text'>{_e(r['question'])}</td>"
            f"<td class='text'>{_e(expected)}</td>"
        )
        for m in run.modes:
            top = r["modes"][m]["top"]
            rank = r["modes"][m]["rank"]
            first = top[0]["source"] if top else ""
            parts.append(f"<td>{'—' if rank is None else rank}</td>")
            parts.append(f"<td class='text dim'>{_e(first)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></body></html>")
    return "".join(parts)
