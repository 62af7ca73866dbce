"""The ragserve command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ragserve.access.commands import groups_app, keys_app, users_app
from ragserve.bench.commands import bench_app
from ragserve.config import Settings
from ragserve.errors import RagserveError
from ragserve.ingest.pipeline import FileOutcome, IngestReport
from ragserve.llm.base import ChatMessage
from ragserve.protocol import AskResult, SearchMode
from ragserve.rag.answer import DoneEvent, TokenEvent
from ragserve.runtime import Runtime
from ragserve.store.ownership import ensure_no_server

app = typer.Typer(
    help="ragserve: ask questions about your documents with models you run yourself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
collections_app = typer.Typer(help="List, inspect and delete collections.")
app.add_typer(collections_app, name="collections")
app.add_typer(bench_app, name="bench")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(groups_app, name="groups")

out = Console()
err = Console(stderr=True)

CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection name (RAGSERVE_COLLECTION).")
]


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc


def _fail(exc: RagserveError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (read recursively).")],
    collection: CollectionOpt = None,
    server: Annotated[
        str | None,
        typer.Option(
            help="Upload through a running server's API (e.g. http://127.0.0.1:8000) instead "
            "of writing the data dir; a re-run resumes."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="RAGSERVE_API_KEY", help="The server's key (with --server)."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Most files per upload request (with --server).")
    ] = 50,
) -> None:
    """Ingest files and folders into a collection; unchanged files are skipped."""
    from ragserve.ingest.pipeline import IngestPipeline

    settings = _settings()
    name = collection or settings.collection
    if server is not None:
        _ingest_remote(paths, name, server, api_key, batch_size)
        return
    try:
        ensure_no_server(settings.data_dir)
    except RagserveError as exc:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        err.print(f"[red]error:[/red] {exc}")
        err.print(
            f"  or: ragserve ingest PATH... --server http://{host}:{settings.port} "
            "(uploads through it, resumable)"
        )
        raise typer.Exit(1) from exc
    with Runtime(settings) as runtime, _ingest_progress() as (progress, task):

        def on_outcome(outcome: FileOutcome) -> None:
            progress.update(task, advance=1, description=Path(outcome.source).name)

        pipeline = IngestPipeline(
            settings, runtime.catalog, runtime.embedder, on_outcome,
            on_start=lambda n: progress.update(task, total=n),
        )  # fmt: skip
        try:
            report = pipeline.run(paths, name)
        except RagserveError as exc:
            raise _fail(exc) from exc
    _print_ingest_report(name, report, tokens=report.tokens)


@app.command()
def reindex(collection: CollectionOpt = None) -> None:
    """Rebuild every document's vectors (dense and keyword) from its file, e.g. to give a
    collection made before hybrid search its keyword side. Run it from the folder the
    documents were ingested from; searches use the old vectors until it is done."""
    from ragserve.ingest.reindex import reindex_collection

    settings = _settings()
    name = collection or settings.collection
    try:
        ensure_no_server(settings.data_dir)
    except RagserveError as exc:
        raise _fail(exc) from exc
    with Runtime(settings) as runtime, _ingest_progress() as (progress, task):

        def on_outcome(outcome: FileOutcome) -> None:
            progress.update(task, advance=1, description=Path(outcome.source).name)

        try:
            result = reindex_collection(
                settings, runtime.catalog, runtime.embedder, name,
                on_outcome=on_outcome, on_start=lambda n: progress.update(task, total=n),
            )  # fmt: skip
        except RagserveError as exc:
            raise _fail(exc) from exc
    report = result.report
    keyword = result.sparse_encoding or "none (RAGSERVE_SPARSE=off)"
    out.print(
        f"Collection [bold]{name}[/bold]: {report.count('ingested')} documents re-indexed — "
        f"{report.chunks} chunks in {report.seconds:.1f} s; keyword index: {keyword}"
    )
    for outcome in report.failed:  # only documents that had failed before: they still do
        out.print(f"  [yellow]still failed[/yellow] {outcome.source}: {outcome.reason}")


def _ingest_remote(
    paths: list[Path], name: str, server: str, api_key: str | None, batch_size: int
) -> None:
    from ragserve.ingest.remote_client import RemoteIngestClient, connect

    with connect(server, api_key) as http, _ingest_progress() as (progress, task):

        def on_outcome(outcome: FileOutcome) -> None:
            progress.update(task, advance=1, description=Path(outcome.source).name)

        client = RemoteIngestClient(
            http, name, batch_files=batch_size, on_outcome=on_outcome,
            on_start=lambda n: progress.update(task, total=n),
        )  # fmt: skip
        try:
            report = client.run(paths)
        except RagserveError as exc:
            raise _fail(exc) from exc
        except KeyboardInterrupt:
            err.print("interrupted: run the same command again to upload the rest")
            raise typer.Exit(130) from None
    # Tokens are counted on the server and not reported per job; time spent throttled is.
    throttled = (
        f"; waited {report.waited_s:.1f} s for room in the server's queue"
        f" ({report.server_full}× 429)"
        if report.waited_s >= 0.1
        else ""
    )
    _print_ingest_report(name, report, after=throttled)


@contextmanager
def _ingest_progress() -> Iterator[tuple[Progress, TaskID]]:
    with Progress(
        TextColumn("[bold]ingest[/bold]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err, transient=not err.is_terminal,
    ) as progress:  # fmt: skip
        yield progress, progress.add_task("", total=None)


def _print_ingest_report(
    name: str, report: IngestReport, *, tokens: int | None = None, after: str = ""
) -> None:
    """The summary both ingest paths end with; exits 1 if any file failed."""
    ingested, skipped = report.count("ingested"), report.count("skipped")
    counted = "" if tokens is None else f", {tokens} tokens"
    out.print(
        f"Collection [bold]{name}[/bold]: {ingested} ingested, {skipped} skipped, "
        f"{len(report.failed)} failed — {report.chunks} chunks{counted} "
        f"in {report.seconds:.1f} s{after}"
    )
    for outcome in report.outcomes:
        if outcome.status == "skipped" and outcome.reason != "unchanged":
            out.print(f"  [yellow]skipped[/yellow] {outcome.source}: {outcome.reason}")
        elif outcome.status == "ingested" and outcome.reason:
            out.print(f"  [yellow]note[/yellow]    {outcome.source}: {outcome.reason}")
    for outcome in report.failed:
        out.print(f"  [red]failed[/red]  {outcome.source}: {outcome.reason}")
    if report.failed:
        raise typer.Exit(1)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _print_sources(result: AskResult) -> None:
    if result.answer_mode == "extractive":
        # Said plainly: people judge the product by these first answers (README quickstart).
        out.print(
            "\n[yellow]Extractive answer:[/yellow] sentences quoted from your documents, no "
            "model wrote it (RAGSERVE_ANSWER_MODE; README, 'Your own models')."
        )
    if result.indexing:
        out.print(f"\n[yellow]Not used, still indexing:[/yellow] {', '.join(result.indexing)}")
    if not result.citations:
        out.print("\n[dim]No sources cited.[/dim]")
        return
    how = " [dim](matched to the answer by similarity)[/dim]"
    out.print("\n[bold]Sources[/bold]" + (how if result.attribution == "similarity" else ""))
    for c in result.citations:
        where = ", ".join(
            x for x in (c.source, f"page {c.page}" if c.page else None, c.heading) if x
        )
        snippet = " ".join(c.text.split())
        out.print(f"  [{c.n}] {where}\n      [dim]{_shorten(snippet, 160)}[/dim]")


ModeOpt = Annotated[
    SearchMode | None,
    typer.Option(
        "--mode",
        help="Retrieval: dense, sparse (BM25 keywords) or hybrid; default: the collection's "
        "mode, else RAGSERVE_RETRIEVAL_MODE.",
    ),
]


async def _answer(
    runtime: Runtime,
    question: str,
    name: str,
    history: list[ChatMessage],
    as_json: bool,
    mode: SearchMode | None = None,
) -> AskResult:
    result: AskResult | None = None
    async for event in runtime.answers.stream(question, name, history, mode=mode):
        if isinstance(event, TokenEvent) and not as_json:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, DoneEvent):
            result = event.result
    assert result is not None
    return result


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="Omit for an interactive session.")] = None,
    collection: CollectionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    mode: ModeOpt = None,
) -> None:
    """Ask a question; the answer streams, then its numbered sources are listed."""
    settings = _settings()
    name = collection or settings.collection

    async def session(runtime: Runtime) -> None:
        history: list[ChatMessage] = []
        try:
            if question is not None:
                result = await _answer(runtime, question, name, history, as_json, mode)
                if as_json:
                    out.print_json(result.model_dump_json())
                else:
                    _print_sources(result)
                return
            out.print(f"Asking collection [bold]{name}[/bold]; an empty line quits.")
            while True:
                try:
                    line = input("\n? ").strip()
                except EOFError:
                    return
                if not line:
                    return
                result = await _answer(runtime, line, name, history, False, mode)
                _print_sources(result)
                history += [
                    {"role": "user", "content": line},
                    {"role": "assistant", "content": result.answer},
                ]
        finally:
            await runtime.chain.aclose()

    try:
        with Runtime(settings) as runtime:
            runtime.catalog.open(
                name, runtime.embedder.model_id, runtime.embedder.dimension, create=False
            )
            asyncio.run(session(runtime))
    except RagserveError as exc:
        raise _fail(exc) from exc


@collections_app.callback(invoke_without_command=True)
def collections_list(ctx: typer.Context) -> None:
    """List collections with their embedding model and document counts."""
    if ctx.invoked_subcommand is not None:
        return
    with Runtime(_settings()) as runtime:
        rows = runtime.catalog.list_collections()
    if not rows:
        out.print("No collections yet: `ragserve ingest PATH --collection NAME` makes one.")
        return
    table = Table("collection", "documents", "embedding model", "dimension")
    for row, documents in rows:
        table.add_row(row.name, str(documents), row.embed_model, str(row.dimension))
    out.print(table)


@collections_app.command("show")
def collections_show(name: str) -> None:
    """List a collection's documents with their status."""
    with Runtime(_settings()) as runtime:
        try:
            docs = runtime.catalog.list_documents(name)
        except RagserveError as exc:
            raise _fail(exc) from exc
    table = Table("document", "status", "chunks", "error")
    for doc in docs:
        table.add_row(doc.source, doc.status, str(doc.chunks), doc.error or "")
    out.print(table)


@collections_app.command("delete")
def collections_delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Delete a collection, its vectors and its document records."""
    if not yes and not typer.confirm(f"Delete collection {name!r}?"):
        raise typer.Exit(1)
    settings = _settings()
    with Runtime(settings) as runtime:
        try:
            ensure_no_server(settings.data_dir)
            runtime.catalog.drop_collection(name)
        except RagserveError as exc:
            raise _fail(exc) from exc
    out.print(f"Deleted collection {name}.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (RAGSERVE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (RAGSERVE_PORT).")] = None,
) -> None:
    """Run the API, the OpenAI-compatible /v1 facade, ingestion workers and the web UI.

    Starts the embedded llama.cpp server unless RAGSERVE_LLM_BASE_URL names a backend.
    SIGTERM or Ctrl-C stops accepting requests and lets in-flight documents finish; the rest
    stay queued and resume on the next start.
    """
    import uvicorn

    from ragserve.api.app import create_app

    settings = _settings()
    logging.getLogger("ragserve").setLevel(logging.INFO)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=settings.port if port is None else port,
        timeout_graceful_shutdown=int(max(settings.shutdown_grace_s, 1)),
        log_level="info",
        # Forwarded headers are believed only from RAGSERVE_TRUSTED_PROXIES (the app's
        # TrustedProxies), never by uvicorn's own loopback default.
        proxy_headers=False,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Documents indexed at once (parse processes).")
    ] = 2,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics and /healthz on this port.")
    ] = None,
) -> None:
    """Index documents from the shared queue (RAGSERVE_QUEUE_URL, RAGSERVE_DATABASE_URL).

    Run as many as you like, on any machine that mounts RAGSERVE_UPLOADS_DIR at the same
    path. SIGTERM or Ctrl-C stops taking documents; those in flight get
    RAGSERVE_SHUTDOWN_GRACE_S to finish, the rest go back to the queue for another worker.
    """
    import signal
    import threading

    from ragserve.cluster.worker import Worker, serve_metrics

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("ragserve").setLevel(logging.INFO)
    try:
        runner = Worker(settings, concurrency=concurrency)
    except RagserveError as exc:
        raise _fail(exc) from exc
    server = serve_metrics(runner, metrics_port) if metrics_port is not None else None
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=runner.run, name="worker", daemon=True)
    thread.start()
    while thread.is_alive() and not stop.wait(0.5):
        pass
    thread.join(settings.shutdown_grace_s)
    if server is not None:
        server.shutdown()
    if thread.is_alive():
        handed = runner.hand_back()
        out.print(f"Handed {handed} unfinished document(s) back to the queue; worker stopped.")
        sys.stdout.flush()
        # The pipeline's threads are still inside the model's native code: an interpreter
        # shutdown under them aborts the process. Their work is back in the queue.
        os._exit(0)
    runner.close()
    if runner.error is not None:
        # Not acknowledged, its documents go to another worker after the redelivery time.
        err.print(f"The worker failed: {runner.error}")
        raise typer.Exit(1)
    out.print("Worker stopped.")


@app.command("query")
def query_cmd(
    prompt: Annotated[str, typer.Argument(help="The message (or text to embed).")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible root, ending in /v1.")],
    model: Annotated[str, typer.Option(help="Model name.")],
    api_key: Annotated[str | None, typer.Option(help="Bearer key.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Most tokens in the answer.")] = 256,
    embed: Annotated[bool, typer.Option("--embed", help="Call /embeddings instead.")] = False,
    mode: ModeOpt = None,
) -> None:
    """Send one request; print the response JSON, the usage and the elapsed time."""
    from ragserve.bench.commands import query
    from ragserve.observability.tracing import from_environment

    with from_environment(_settings().trace_content):
        query(base_url, model, prompt, api_key, max_tokens, embed, mode)


@app.command("batch")
def batch_cmd(
    input_file: Annotated[Path, typer.Argument(help="OpenAI batch JSONL (custom_id, url, body).")],
    output_file: Annotated[Path, typer.Argument(help="Results JSONL; an existing one resumes.")],
    base_url: Annotated[str, typer.Option(help="Server root, e.g. http://vllm:8000/v1.")],
    api_key: Annotated[str | None, typer.Option(help="Bearer key.")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 8,
    max_retries: Annotated[int, typer.Option(help="Retries on 429/5xx/transport errors.")] = 5,
) -> None:
    """Run an OpenAI batch file (chat or embeddings) against any compatible server.

    Interrupted? Run the same command again: finished ids are skipped, and each id ends up
    in the output exactly once.
    """
    from ragserve.batch.runner import read_requests, run_batch

    try:
        requests = read_requests(input_file)
    except RagserveError as exc:
        raise _fail(exc) from exc
    from ragserve.observability.tracing import from_environment

    with from_environment(_settings().trace_content), Progress(
        TextColumn("[bold]batch[/bold]"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=not err.is_terminal,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=len(requests))
        totals = asyncio.run(
            run_batch(
                requests, output_file, base_url, api_key=api_key, concurrency=concurrency,
                max_retries=max_retries, on_done=lambda _ok: progress.advance(task),
            )
        )  # fmt: skip
    out.print(
        f"{totals.succeeded} succeeded, {totals.failed} failed, {totals.skipped} already done "
        f"(of {totals.total}); {totals.prompt_tokens} prompt + {totals.completion_tokens} "
        f"completion tokens; {totals.retries} retries; {totals.elapsed_s:.1f} s"
    )
    if totals.errors:
        out.print("errors: " + ", ".join(f"{k}: {v}" for k, v in totals.errors.items()))
    if totals.failed:
        raise typer.Exit(1)


@app.command("eval")
def eval_cmd(
    qa_file: Annotated[Path, typer.Argument(help="QA JSONL: question, expected_sources, ...")],
    collection: CollectionOpt = None,
    mode: Annotated[
        list[str] | None,
        typer.Option(
            "--mode",
            "--modes",
            "-m",
            help="Retrieval mode(s), repeated or comma-separated: dense, sparse, hybrid.",
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Recall cutoffs, comma-separated.")] = "1,3,5,10",
    split: Annotated[str, typer.Option(help="dev, test or all.")] = "all",
    answers: Annotated[
        bool, typer.Option("--answers", help="Also answer each question; check the answers.")
    ] = False,
    rerank: Annotated[
        list[str] | None,
        typer.Option(
            "--rerank",
            help="Rerankers to compare, comma-separated: none, remote, cross-encoder, llm "
            "(each mode runs under each: dense, dense+llm). Settings: RAGSERVE_RERANK_*.",
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML report.")] = None,
) -> None:
    """Measure retrieval on a QA file: recall@k, MRR@10, nDCG@10 per mode, and the misses."""
    from ragserve.config import RerankKind
    from ragserve.eval.modes import build_modes, build_rerankers, parse_modes, parse_rerankers
    from ragserve.eval.questions import load_questions, select_split
    from ragserve.eval.report import print_report, render_html, to_json
    from ragserve.eval.runner import EvalRun, evaluate

    try:
        ks = sorted({int(x) for x in k.split(",") if x.strip()})
    except ValueError as exc:
        raise typer.BadParameter(f"--k takes comma-separated integers, not {k!r}") from exc
    if not ks or ks[0] < 1:
        raise typer.BadParameter("--k cutoffs must be 1 or more")
    settings = _settings()
    name = collection or settings.collection
    try:
        names = parse_modes(mode or ["dense"])
        kinds = parse_rerankers(rerank or ["none"])
        questions = select_split(load_questions(qa_file), split)
        with Runtime(settings) as runtime, Progress(
            TextColumn("[bold]eval[/bold]"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=not err.is_terminal,
        ) as progress:  # fmt: skip
            stages = build_rerankers(runtime, kinds)
            modes = build_modes(runtime, name, names, stages)
            task = progress.add_task("", total=len(questions))

            async def run() -> EvalRun:
                try:
                    return await evaluate(
                        questions, modes, ks, collection=name, split=split,
                        answer=(lambda q: runtime.answers.ask(q, name)) if answers else None,
                        on_question=lambda _o: progress.advance(task),
                    )  # fmt: skip
                finally:
                    for stage in stages.values():
                        if stage is not None:
                            await stage.aclose()
                    if answers or RerankKind.llm in stages:
                        await runtime.chain.aclose()

            result = asyncio.run(run())
    except RagserveError as exc:
        raise _fail(exc) from exc
    print_report(result, out)
    if json_out is not None:
        json_out.write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n")
        out.print(f"JSON report: {json_out}")
    if html_out is not None:
        html_out.write_text(render_html(result), encoding="utf-8")
        out.print(f"HTML report: {html_out}")


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the data directory, embedder and model endpoints with one real call each."""
    from ragserve.doctor import run_checks

    checks = run_checks(_settings())
    if as_json:
        out.print_json(
            json.dumps({"ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]})
        )
    else:
        for c in checks:
            mark = "[green]✓[/green]" if c.ok else "[red]✗[/red]"
            out.print(f"{mark} {c.name}: {c.detail}")
            if c.fix:
                out.print(f"    [yellow]fix:[/yellow] {c.fix}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command()
def plugins() -> None:
    """List the plugins (entry point group `ragserve`) and what they registered."""
    from rich.markup import escape

    from ragserve.embed.registry import embedder_kinds
    from ragserve.ingest.loaders import registered_loaders
    from ragserve.llm.kinds import chat_kinds
    from ragserve.plugins import load_plugins

    loaded = load_plugins()
    table = Table("plugin", "from", "entry point", "status")
    for plugin in loaded:
        status = (
            f"[red]failed: {escape(plugin.error)}[/red]"
            if plugin.error
            else "[green]loaded[/green]"
        )
        table.add_row(plugin.name, plugin.distribution or "-", plugin.value, status)
    out.print(table)
    loaders = ", ".join(f"{lo.kind} ({' '.join(lo.suffixes)})" for lo in registered_loaders())
    out.print(f"loaders: {loaders}")
    out.print(f"embedder kinds: {', '.join(embedder_kinds())}")
    out.print(f"chat backend kinds: {', '.join(chat_kinds())}")
    if any(plugin.error for plugin in loaded):
        raise typer.Exit(1)
