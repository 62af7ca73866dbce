"""What every reranker shares: the scorer protocol, reordering, and building one by setting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ragserve.config import RerankKind, Settings
from ragserve.errors import ConfigError
from ragserve.llm.base import ChatBackend
from ragserve.observability.metrics import RERANK_OUTCOMES, RETRIEVAL_LATENCY
from ragserve.protocol import Citation


@dataclass(frozen=True, slots=True)
class Scored:
    """The score of the passage at ``index`` in the list the scorer was given."""

    index: int
    score: float


class PassageScorer(Protocol):
    """Rates passages against a query. It may score only some of them (a budget) or none
    (its fallback): passages left out keep their retrieval order after the scored ones."""

    kind: str

    async def score(self, query: str, passages: Sequence[str]) -> list[Scored]: ...

    async def aclose(self) -> None: ...


class RerankStage:
    """Retrieve ``candidates`` passages, score them, keep the best ``top_k``."""

    def __init__(self, scorer: PassageScorer, candidates: int) -> None:
        self.scorer = scorer
        self.candidates = candidates

    @property
    def kind(self) -> str:
        return self.scorer.kind

    def fetch(self, top_k: int) -> int:
        """How many passages to retrieve for an answer of ``top_k``."""
        return max(top_k, self.candidates)

    async def rerank(self, query: str, passages: Sequence[Citation], top_k: int) -> list[Citation]:
        """The best ``top_k`` by the scorer, numbered from 1; ``score`` is the reranker's and
        ``retrieval_score`` the retriever's (unset on passages the scorer left unscored)."""
        if not passages:
            return []
        started = time.perf_counter()
        scored = await self.scorer.score(query, [p.text for p in passages])
        RETRIEVAL_LATENCY.labels("rerank").observe(time.perf_counter() - started)
        if scored:
            RERANK_OUTCOMES.labels(self.kind, "reranked").inc()
        return reorder(passages, scored)[:top_k]

    async def aclose(self) -> None:
        await self.scorer.aclose()


def reorder(passages: Sequence[Citation], scored: Sequence[Scored]) -> list[Citation]:
    """Scored passages by score (ties keep retrieval order), then the unscored ones."""
    by_index = {s.index: s.score for s in scored if 0 <= s.index < len(passages)}
    ranked = sorted(by_index, key=lambda i: (-by_index[i], i))
    rest = [i for i in range(len(passages)) if i not in by_index]
    out = []
    for rank, i in enumerate([*ranked, *rest], 1):
        p = passages[i]
        if i in by_index:
            out.append(
                p.model_copy(update={"n": rank, "score": by_index[i], "retrieval_score": p.score})
            )
        else:
            out.append(p.model_copy(update={"n": rank}))
    return out


def choose_stage(configured: RerankStage | None, wanted: bool | None) -> RerankStage | None:
    """The stage one request runs: the configured one (if any) unless it says ``False``."""
    return None if wanted is False else configured


def build_rerank_stage(
    settings: Settings, chat: Callable[[], ChatBackend], kind: RerankKind | None = None
) -> RerankStage | None:
    """The reranker ``settings.rerank`` (or ``kind``) names; None for ``none``. ``chat``
    is called only for ``llm``, so other kinds never start the chat model."""
    kind = settings.rerank if kind is None else kind
    scorer: PassageScorer
    if kind is RerankKind.none:
        return None
    if kind is RerankKind.remote:
        from ragserve.rag.rerank.remote import RemoteScorer

        if not settings.rerank_url:
            raise ConfigError("RAGSERVE_RERANK=remote needs RAGSERVE_RERANK_URL")
        scorer = RemoteScorer.from_settings(settings, settings.rerank_url)
    elif kind is RerankKind.cross_encoder:
        from ragserve.rag.rerank.cross_encoder import CrossEncoderScorer

        if not settings.rerank_model:
            raise ConfigError(
                "RAGSERVE_RERANK=cross-encoder needs RAGSERVE_RERANK_MODEL (a "
                "sentence-transformers CrossEncoder name or a local path)"
            )
        scorer = CrossEncoderScorer(settings.rerank_model)
    else:
        from ragserve.rag.rerank.llm_scoring import LLMScorer

        scorer = LLMScorer(
            chat(),
            budget=settings.rerank_llm_budget,
            batch=settings.rerank_llm_batch,
            timeout_s=settings.rerank_timeout_s,
        )
    return RerankStage(scorer, settings.rerank_candidates)
