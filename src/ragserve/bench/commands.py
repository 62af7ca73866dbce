"""`ragserve bench chat | embed`: measure what an endpoint holds."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragserve.bench.client import ChatTarget, new_client, prompt_cycle
from ragserve.bench.html import render
from ragserve.bench.metrics import RequestRecord, Slo, stats
from ragserve.bench.report import level_table, write_csv, write_json
from ragserve.bench.runner import LoadPlan, capacity, recommendation, run_plan
from ragserve.bench.runner import find_capacity as search_capacity
from ragserve.bench.workload import from_jsonl, load_tokenizer, synthetic
from ragserve.observability import tracing
from ragserve.openai_http import auth_headers

bench_app = typer.Typer(help="Measure what an OpenAI-compatible deployment holds.")
out = Console()
err = Console(stderr=True)


def _levels(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


@bench_app.command("chat")
def bench_chat(
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible root, ending in /v1.")],
    model: Annotated[str, typer.Option(help="Model name (ragserve: rag:<collection>).")],
    api_key: Annotated[str | None, typer.Option(help="Bearer key.")] = None,
    concurrency: Annotated[str | None, typer.Option(help="Levels, e.g. 1,4,16.")] = None,
    rate: Annotated[str | None, typer.Option(help="Poisson rates in req/s, e.g. 2,5,10.")] = None,
    burstiness: Annotated[float, typer.Option(help="Gamma shape for --rate; 1 = Poisson.")] = 1.0,
    requests: Annotated[int | None, typer.Option(help="Requests per level.")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds per level.")] = None,
    warmup: Annotated[int, typer.Option(help="Unmeasured requests before each level.")] = 2,
    input_len: Annotated[int, typer.Option(help="Synthetic prompt length, tokens.")] = 256,
    output_len: Annotated[int, typer.Option(help="Answer length (max_tokens).")] = 128,
    ignore_eos: Annotated[bool, typer.Option(help="Ask for exactly --output-len tokens.")] = False,
    prompts: Annotated[Path | None, typer.Option(help="JSONL of prompts or questions.")] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            help="The model's tokenizer (tokenizer.json, folder or hub name) for "
            "exact --input-len; unset: about one token per word."
        ),
    ] = None,
    slo: Annotated[str | None, typer.Option(help="e.g. ttft=300ms,itl=100ms,e2e=3s")] = None,
    slo_target: Annotated[float, typer.Option(help="Share of requests within SLO.")] = 0.95,
    compare: Annotated[list[str] | None, typer.Option(help="Another URL[=MODEL] to run.")] = None,
    find_capacity: Annotated[
        bool,
        typer.Option(
            "--find-capacity",
            help="Search the largest concurrency within --slo "
            "(doubling, then bisecting) instead of fixed levels.",
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Every request as CSV.")] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report with plots.")
    ] = None,
) -> None:
    """Load an endpoint by concurrency or request rate; report TTFT, TPOT, ITL, E2E,
    throughput, goodput, and how much load it holds within the SLOs."""
    if find_capacity:
        if not slo:
            raise typer.BadParameter("--find-capacity needs --slo")
        concurrency = concurrency or "1"
    elif (concurrency is None) == (rate is None):
        raise typer.BadParameter("give exactly one of --concurrency and --rate")
    if requests is None and duration is None:
        requests = 50
    try:
        slos = Slo.parse(slo)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    mode = "concurrency" if concurrency else "rate"
    plan = LoadPlan(
        mode, _levels(concurrency or rate or ""), requests, duration, warmup, burstiness
    )
    targets = [ChatTarget(base_url, model, api_key, output_len, ignore_eos)]
    for other in compare or []:
        url, _, other_model = other.partition("=")
        targets.append(ChatTarget(url, other_model or model, api_key, output_len, ignore_eos))
    tok = load_tokenizer(tokenizer) if tokenizer else None
    workload = from_jsonl(prompts) if prompts else synthetic(1000, input_len, tokenizer=tok)

    progress = Progress(
        TextColumn("[bold]bench[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=not err.is_terminal,
    )  # fmt: skip
    task = progress.add_task("levels", total=len(targets) * len(plan.levels))

    def on_level(summary: dict[str, object]) -> None:
        progress.advance(task)
        err.print(
            f"[dim]{summary['endpoint']} {mode}={summary['level']:g}: "
            f"{summary['completed']}/{summary['requests']} ok, "
            f"{summary['request_throughput']:.2f} req/s[/dim]"
        )

    rows: list[tuple[str, float, RequestRecord]] = []
    with progress:
        if find_capacity:
            progress.update(task, total=None)
            levels = []
            for t in targets:
                found, _ = search_capacity(t, prompt_cycle(workload), slos,
                                           requests_per_level=requests or 20,
                                           slo_target=slo_target, on_level=on_level)  # fmt: skip
                levels += found
        else:
            levels, rows = run_plan(targets, prompt_cycle(workload), plan, slos, on_level)
    cap = capacity(levels, slo_target)
    out.print(level_table(levels))
    for line in recommendation(cap, mode, slos):
        out.print(line)
    if any(s["client"]["client_bound"] for s in levels):  # type: ignore[index]
        out.print(
            "[yellow]warning:[/yellow] the client was the bottleneck at some levels "
            "(marked BOUND): their latencies include client time."
        )
    report = {
        "mode": mode,
        "slo": vars(slos),
        "slo_target": slo_target,
        "levels": levels,
        "capacity": cap,
        "recommendation": recommendation(cap, mode, slos),
    }
    if json_out:
        write_json(json_out, report)
    if csv_out:
        write_csv(csv_out, rows)
    if html_out:
        html_out.write_text(render(report))


@bench_app.command("embed")
def bench_embed(
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible root, ending in /v1.")],
    model: Annotated[str, typer.Option(help="Embedding model name.")],
    api_key: Annotated[str | None, typer.Option()] = None,
    concurrency: Annotated[str, typer.Option(help="Levels, e.g. 1,8,32.")] = "1,8,32",
    requests: Annotated[int, typer.Option(help="Requests per level.")] = 100,
    batch: Annotated[int, typer.Option(help="Texts per request.")] = 1,
    input_len: Annotated[int, typer.Option(help="Tokens per text (approximate).")] = 128,
    json_out: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """Sequences/s, tokens/s and latency of /v1/embeddings at each concurrency."""
    texts = [m[0]["content"] for m in synthetic(max(batch * 8, 64), input_len)]
    results = [
        asyncio.run(_embed_level(base_url, model, api_key, int(c), requests, batch, texts))
        for c in _levels(concurrency)
    ]
    for r in results:
        lat: dict[str, float] = r["latency"]  # type: ignore[assignment]
        out.print(
            f"c={r['concurrency']:g}: {r['sequences_per_s']:.1f} seq/s, "
            f"{r['tokens_per_s']:.0f} tok/s, p50 {lat['p50'] * 1000:.1f} ms, "
            f"p99 {lat['p99'] * 1000:.1f} ms, {r['errors']} errors"
        )
    if json_out:
        write_json(json_out, {"levels": results})


async def _embed_level(
    url: str, model: str, key: str | None, conc: int, requests: int, batch: int, texts: list[str]
) -> dict[str, object]:
    latencies: list[float] = []
    tokens = errors = 0
    todo = iter(range(requests))
    async with new_client(conc + 4) as http:

        async def worker() -> None:
            nonlocal tokens, errors
            for i in todo:
                body = {
                    "model": model,
                    "input": [texts[(i * batch + j) % len(texts)] for j in range(batch)],
                }
                t0 = time.perf_counter()
                try:
                    r = await http.post(
                        f"{url.rstrip('/')}/embeddings", json=body, headers=auth_headers(key)
                    )
                    r.raise_for_status()
                    tokens += int((r.json().get("usage") or {}).get("prompt_tokens") or 0)
                    latencies.append(time.perf_counter() - t0)
                except Exception:  # counted, the level goes on
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = time.perf_counter() - started
    return {
        "concurrency": conc,
        "sequences_per_s": len(latencies) * batch / wall,
        "tokens_per_s": tokens / wall,
        "latency": stats(latencies),
        "errors": errors,
    }


def query(
    base_url: str,
    model: str,
    prompt: str,
    api_key: str | None,
    max_tokens: int,
    embed: bool,
    mode: str | None = None,
) -> None:
    """One request; print the response JSON, usage and elapsed time. ``mode`` is sent as
    ragserve's ``retrieval_mode`` extension."""
    import httpx

    started = time.perf_counter()
    path, body = (
        ("/embeddings", {"model": model, "input": prompt})
        if embed
        else (
            "/chat/completions",
            {
                "model": model,
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": prompt}],
                **({"retrieval_mode": mode} if mode else {}),
            },
        )
    )
    operation = "embeddings" if embed else "chat"
    messages = [] if embed else [{"role": "user", "content": prompt}]
    with tracing.request_trace("query", model, base_url, operation, messages) as gen:
        response = httpx.post(
            f"{base_url.rstrip('/')}{path}", json=body, headers=auth_headers(api_key), timeout=600
        )
        elapsed = time.perf_counter() - started
        try:
            data = response.json()
        except ValueError:
            data = {"raw": response.text}
        tracing.record_response(gen, model, response.status_code, data)
    if embed and response.is_success:
        for item in data.get("data", []):
            vector = item.get("embedding", [])
            item["embedding"] = f"<{len(vector)} floats>"
    out.print_json(json.dumps(data))
    out.print(f"HTTP {response.status_code}, usage {data.get('usage')}, {elapsed:.3f} s")
    if not response.is_success:
        raise typer.Exit(1)
