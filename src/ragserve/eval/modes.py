"""Retrieval modes by name. A mode is ``async (query, top_k) -> ranked passages``.

A new mode (sparse, hybrid, a reranker over another mode) is a factory added to ``MODES``;
the runner and the report only see names and callables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ragserve.errors import ConfigError
from ragserve.protocol import Citation, SearchMode
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


def build_modes(
    runtime: Runtime, collection: str, names: Sequence[str]
) -> dict[str, RetrievalMode]:
    return {name: MODES[name](runtime, collection) for name in names}
