"""Retrieval modes by name. A mode is ``async (query, top_k) -> ranked passages``.

A new mode (sparse, hybrid) is a factory added to ``MODES``; a reranker wraps each mode
(``dense+llm``: dense candidates, reordered by LLM scoring). The runner and the report only
see names and callables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from ragserve.config import RerankKind
from ragserve.errors import ConfigError
from ragserve.protocol import Citation, SearchMode
from ragserve.rag.rerank import RerankStage, build_rerank_stage
from ragserve.rag.retrieve import Retriever
from ragserve.runtime import Runtime

RetrievalMode = Callable[[str, int], Awaitable[Sequence[Citation]]]
ModeFactory = Callable[[Runtime, str], RetrievalMode]


def _searching(mode: SearchMode) -> ModeFactory:
    def factory(runtime: Runtime, collection: str) -> RetrievalMode:
        # The same Retriever the answer service builds from these parts; building it here
        # rather than through runtime.answers keeps the chat model (and llama.cpp) unstarted.
        retriever = Retriever(runtime.catalog, runtime.embedder)
        # A missing collection, another embedding model or no sparse side fails now.
        retriever.plan(retriever.open(collection), mode)

        async def search(query: str, top_k: int) -> Sequence[Citation]:
            return await retriever.aretrieve(collection, query, top_k, mode=mode)

        return search

    factory.__doc__ = f"Retrieval in mode {mode!r}, as /api/search does it."
    return factory


#: Embedding search; BM25 keyword search; both fused by reciprocal rank.
dense, sparse, hybrid = _searching("dense"), _searching("sparse"), _searching("hybrid")

MODES: dict[str, ModeFactory] = {"dense": dense, "sparse": sparse, "hybrid": hybrid}


def parse_modes(values: Sequence[str]) -> list[str]:
    """Names from repeated and comma-separated options, in order, each once."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        raise ConfigError(
            f"unknown retrieval mode {', '.join(unknown)}; available: {', '.join(MODES)}"
        )
    return list(dict.fromkeys(names)) or ["dense"]


def parse_rerankers(values: Sequence[str]) -> list[RerankKind]:
    """Reranker kinds from repeated and comma-separated options (``none`` for none)."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    known = {k.value: k for k in RerankKind}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown reranker {', '.join(unknown)}; available: {', '.join(known)}")
    return [known[n] for n in dict.fromkeys(names)] or [RerankKind.none]


def build_rerankers(
    runtime: Runtime, kinds: Sequence[RerankKind]
) -> dict[RerankKind, RerankStage | None]:
    """One stage per kind, from the runtime's settings (RAGSERVE_RERANK_*); ``none``: None."""
    return {k: build_rerank_stage(runtime.settings, lambda: runtime.chain, k) for k in kinds}


def reranked(mode: RetrievalMode, stage: RerankStage) -> RetrievalMode:
    """``mode``'s candidates (``RAGSERVE_RERANK_CANDIDATES`` or more), reordered by ``stage``."""

    async def search(query: str, top_k: int) -> Sequence[Citation]:
        return await stage.rerank(query, await mode(query, stage.fetch(top_k)), top_k)

    return search


def build_modes(
    runtime: Runtime,
    collection: str,
    names: Sequence[str],
    rerankers: Mapping[RerankKind, RerankStage | None] | None = None,
) -> dict[str, RetrievalMode]:
    """Each mode, then each mode under each reranker, side by side: ``dense``, ``dense+llm``."""
    out: dict[str, RetrievalMode] = {}
    for name in names:
        mode = MODES[name](runtime, collection)
        for kind, stage in (rerankers or {RerankKind.none: None}).items():
            out[name if stage is None else f"{name}+{kind.value}"] = (
                mode if stage is None else reranked(mode, stage)
            )
    return out
