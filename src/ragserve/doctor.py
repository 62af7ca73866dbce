"""`ragserve doctor`: one real call to each configured part, reported in plain words."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable
from contextlib import ExitStack

from ragserve.config import BackendSpec, EmbedBackendKind, RerankKind, Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import (
    BackendAuthError,
    BackendError,
    BackendNotFound,
    BackendProtocolError,
    BackendUnavailable,
    RagserveError,
)
from ragserve.llm.base import ChatBackend
from ragserve.llm.chain import ChatChain
from ragserve.llm.kinds import build_one, timeouts
from ragserve.probe import Check, Endpoint, probe
from ragserve.runtime import Runtime
from ragserve.store.catalog import Catalog


def _fix_for(exc: BackendError, role: str, setting: str) -> str:
    if isinstance(exc, BackendAuthError):
        return f"set RAGSERVE_{setting}_API_KEY to a key the server accepts"
    if isinstance(exc, BackendNotFound):
        if role == "embeddings":
            return (
                "the server does not serve /v1/embeddings: a vLLM started for generation "
                "answers 404 here; start an embedding instance with `vllm serve MODEL "
                "--runner pooling`, or check that the base URL ends in /v1"
            )
        return (
            "the server does not serve /v1/chat/completions: check that the base URL ends in "
            "/v1 (Ollama: http://HOST:11434/v1) and is a generation server, not a pooling one"
        )
    if isinstance(exc, BackendUnavailable):
        return f"check that the server is running and RAGSERVE_{setting}_BASE_URL is right"
    return "see the server's log"


def check_data_dir(settings: Settings) -> Check:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check(
            "data directory",
            False,
            f"{path}: {exc}",
            "set RAGSERVE_DATA_DIR to a writable directory",
        )
    return Check("data directory", True, f"{path.resolve()} is writable")


def check_embedder(settings: Settings, embedder: EmbeddingBackend) -> Check:
    remote = settings.resolved_embed_backend is EmbedBackendKind.openai
    name = "embedding endpoint" if remote else "embedder"
    try:
        started = time.perf_counter()
        vector = embedder.embed_queries(["ragserve doctor"])[0]
        ms = (time.perf_counter() - started) * 1000
    except BackendError as exc:
        return Check(name, False, str(exc), _fix_for(exc, "embeddings", "EMBED"))
    except RagserveError as exc:
        return Check(name, False, str(exc), "check RAGSERVE_EMBED_MODEL")
    where = f" at {settings.embed_base_url}" if remote else " (in-process)"
    return Check(
        name, True,
        f"{embedder.model_id}{where}: {len(vector)} dimensions, loaded and called "
        f"in {ms:.0f} ms",
    )  # fmt: skip


def check_collections(catalog: Catalog, embedder: EmbeddingBackend) -> list[Check]:
    checks = []
    model, dim = embedder.model_id, embedder.dimension
    for row, documents in catalog.list_collections():
        if row.embed_model == model and row.dimension == dim:
            checks.append(Check(f"collection {row.name}", True, f"{documents} documents ready"))
        else:
            checks.append(Check(
                f"collection {row.name}", False,
                f"pinned to {row.embed_model} ({row.dimension} dimensions), configured "
                f"embedder is {model} ({dim})",
                f"set RAGSERVE_EMBED_MODEL={row.embed_model}, or re-index the collection",
            ))  # fmt: skip
    return checks


def prompt_budget(settings: Settings) -> int:
    """Tokens a full prompt needs: top_k chunks (LLM tokens run ~1.3x MiniLM's), the answer,
    and the instructions around them."""
    return int(settings.top_k * settings.chunk_tokens * 1.3) + settings.llm_max_tokens + 256


async def _context_check(name: str, backend: ChatBackend, settings: Settings) -> Check:
    window = await backend.context_window()
    budget = prompt_budget(settings)
    if window < budget:
        return Check(
            f"{name} context", False,
            f"context window {window} tokens is smaller than the prompt budget {budget} "
            f"(top_k {settings.top_k} × {settings.chunk_tokens}-token chunks + "
            f"{settings.llm_max_tokens} answer tokens): sources would be dropped",
            "raise the server's context (vLLM --max-model-len, Ollama num_ctx or "
            "OLLAMA_CONTEXT_LENGTH), or lower RAGSERVE_TOP_K / RAGSERVE_CHUNK_TOKENS / "
            "RAGSERVE_LLM_MAX_TOKENS",
        )  # fmt: skip
    return Check(f"{name} context", True, f"{window} tokens, prompt budget {budget}")


def check_chat(settings: Settings, spec: BackendSpec, name: str, setting: str) -> list[Check]:
    """One backend of the chain: probed over HTTP, then its context window."""
    with ExitStack() as stack:
        try:
            setup = build_one(settings, spec, stack)
        except RagserveError as exc:  # e.g. the embedded server failed to start
            return [Check(name, False, str(exc), "see the llama.cpp log in RAGSERVE_DATA_DIR/logs")]
        return asyncio.run(_closing(check_live_chat(settings, spec, setup.backend, name, setting),
                                    setup.backend))  # fmt: skip


async def _closing(checks: Awaitable[list[Check]], backend: ChatBackend) -> list[Check]:
    try:
        return await checks
    finally:
        await backend.aclose()


async def check_live_chat(
    settings: Settings, spec: BackendSpec, backend: ChatBackend, name: str, setting: str
) -> list[Check]:
    """Checks for one built chat backend (the CLI builds it; the server has it running)."""
    if spec.kind == "embedded":
        return [await _chat_check(backend, name)]
    endpoint = Endpoint(name, "chat", spec.base_url or "", spec.api_key, spec.model, setting)
    limits = timeouts(settings, spec)
    checks, _ = await asyncio.to_thread(
        probe, endpoint, connect_timeout=limits.connect, first_token_timeout=limits.first_token
    )
    if all(c.ok for c in checks):
        checks.append(await _context_check(name, backend, settings))
    return checks


async def _chat_check(backend: ChatBackend, name: str = "chat endpoint") -> Check:
    started = time.perf_counter()
    try:
        model = await backend.model_name()
        first: float | None = None
        async for _ in backend.stream(
            [{"role": "user", "content": "Say OK."}], max_tokens=4, temperature=0.0
        ):
            first = first or time.perf_counter() - started
        window = await backend.context_window()
    except BackendError as exc:
        return Check(name, False, str(exc), _fix_for(exc, "chat", "LLM"))
    except RagserveError as exc:
        return Check(name, False, str(exc), "check RAGSERVE_LLM_MODEL")
    ttft = f"first token in {first * 1000:.0f} ms" if first else "no tokens returned"
    return Check(
        name, first is not None,
        f"{backend.base_url}, model {model}, context {window} tokens, {ttft}",
        None if first else "the server answered but produced no text; check the model",
    )  # fmt: skip


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; later checks still run when earlier ones fail."""
    checks = [check_data_dir(settings)]
    if not checks[0].ok:
        return checks
    found = probe_embedding_endpoint(settings)
    checks.extend(found)
    if all(c.ok for c in found):
        with Runtime(settings) as runtime:
            embed = check_embedder(settings, runtime.embedder)
            checks.append(embed)
            if embed.ok:
                checks.extend(check_collections(runtime.catalog, runtime.embedder))
    with Runtime(settings) as runtime:
        specs = runtime.chat_specs()
    for spec, name, setting in chain_names(specs):
        checks.extend(check_chat(settings, spec, name, setting))
    checks.extend(asyncio.run(check_reranker(settings)))
    return checks


async def check_reranker(settings: Settings) -> list[Check]:
    """One scoring request to the configured remote reranker; none configured: no check.
    (In-process and LLM rerankers need no endpoint: the chat and model checks cover them.)"""
    if settings.rerank is not RerankKind.remote or not settings.rerank_url:
        return []
    from ragserve.rag.rerank.remote import RemoteScorer

    scorer = RemoteScorer.from_settings(settings, settings.rerank_url)
    shape = f"RAGSERVE_RERANK_API={settings.rerank_api.value}"
    try:
        await scorer.score("ragserve doctor", ["a first passage", "a second passage"])
    except BackendError as exc:
        if isinstance(exc, BackendProtocolError):
            fix = f"set RAGSERVE_RERANK_API to the request shape this server speaks (now {shape})"
        elif isinstance(exc, BackendNotFound):
            fix = (
                f"the server has no {scorer.url}: check RAGSERVE_RERANK_URL and {shape} "
                "(cohere: /v1/rerank, tei: /rerank, score: /v1/score)"
            )
        else:
            fix = _fix_for(exc, "reranker", "RERANK").replace("_BASE_URL", "_URL")
        return [Check("reranker", False, str(exc), fix)]
    finally:
        await scorer.aclose()
    return [Check("reranker", True, f"{scorer.url} scored 2 passages ({shape})")]


def probe_embedding_endpoint(settings: Settings) -> list[Check]:
    """The remote embedding endpoint probed step by step; nothing (all fine) if in-process
    or if the probe found nothing wrong (the embedder check then reports it)."""
    if (
        settings.resolved_embed_backend is not EmbedBackendKind.openai
        or not settings.embed_base_url
    ):
        return []
    endpoint = Endpoint("embedding endpoint", "embeddings", settings.embed_base_url,
                        settings.embed_api_key, settings.embed_model, "EMBED")  # fmt: skip
    found, _ = probe(endpoint, first_token_timeout=settings.embed_timeout_s)
    return [] if all(c.ok for c in found) else found


def chain_names(chain: list[BackendSpec]) -> list[tuple[BackendSpec, str, str]]:
    """(spec, report name, setting to fix) for each chat backend."""
    if len(chain) == 1:
        return [(chain[0], "chat endpoint", "LLM")]
    return [(spec, f"chat endpoint {spec.label}", "LLM_BACKENDS") for spec in chain]


async def server_checks(
    settings: Settings,
    catalog: Catalog,
    embedder: EmbeddingBackend,
    chain: ChatChain,
) -> list[Check]:
    """The doctor's checks from inside a running server, on the parts it already holds
    (the API's `GET /api/doctor`, behind the UI's Test button)."""
    checks = await asyncio.to_thread(probe_embedding_endpoint, settings)
    if not checks:
        embed = await asyncio.to_thread(check_embedder, settings, embedder)
        checks.append(embed)
        if embed.ok:
            checks.extend(await asyncio.to_thread(check_collections, catalog, embedder))
    members = chain.members
    names = chain_names([m.spec for m in members])
    for (spec, name, setting), member in zip(names, members, strict=True):
        backend = member.backend
        checks.extend(await check_live_chat(settings, spec, backend, name, setting))
    checks.extend(await check_reranker(settings))
    return checks
