"""LLM relevance scoring: the chat model rates several passages per prompt.

One prompt lists up to ``batch`` numbered passages and asks for one line ``n: score`` (0-10)
per passage; the prompts for a query run concurrently, so scoring 20 passages costs two
round-trips' time, not twenty. Only the ``budget`` best-retrieved passages are scored.
When any prompt's answer does not give every passage a score, the time runs out or the chat
backend fails, the query keeps its retrieval order: a log line and the
``ragserve_rerank{outcome="fallback_*"}`` counter say so, and the answer goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from ragserve.errors import BackendError
from ragserve.llm.base import ChatBackend, ChatMessage
from ragserve.observability.metrics import RERANK_OUTCOMES
from ragserve.rag.rerank.base import Scored

log = logging.getLogger(__name__)

SYSTEM = (
    "You judge search results. For each numbered passage, rate how well it answers the "
    "question, from 0 (unrelated) to 10 (answers it directly)."
)
#: ``3: 7``, ``[3]: 7``, ``"3": 7``, ``Passage 3 - 7``, ``- 3: 7.5``: the forms models write.
LINE = re.compile(r"^\W*(?:passage\s*)?\[?(\d+)\]?\W*?\s*[:=\-]\s*\"?(\d+(?:\.\d+)?)", re.I | re.M)
#: Characters of one passage shown to the model (about 200 tokens): enough to judge it.
PASSAGE_CHARS = 800


class Unparsable(ValueError):
    pass


def build_prompt(query: str, passages: Sequence[str]) -> list[ChatMessage]:
    listed = "\n\n".join(
        f"[{n}] {' '.join(text.split())[:PASSAGE_CHARS]}" for n, text in enumerate(passages, 1)
    )
    # A form to fill in: small models copy an example's numbers, and stop after two lines
    # when asked for "one line per passage"; with every line written out they complete it.
    form = "\n".join(f"{n}: ?" for n in range(1, len(passages) + 1))
    user = (
        f"Question: {query}\n\nPassages:\n\n{listed}\n\nReplace each ? with the passage's "
        f"score (0-10) and reply with these {len(passages)} lines only:\n{form}"
    )
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=user)]


def parse_scores(text: str, count: int) -> list[float]:
    """Scores 0-1 for passages 1..count (the first line for each number counts)."""
    found: dict[int, float] = {}
    for match in LINE.finditer(text):
        n, score = int(match.group(1)), float(match.group(2))
        if 1 <= n <= count and n not in found:
            found[n] = min(max(score, 0.0), 10.0) / 10
    missing = [n for n in range(1, count + 1) if n not in found]
    if missing:
        raise Unparsable(f"no score for passage(s) {missing} in {text[:200]!r}")
    return [found[n] for n in range(1, count + 1)]


class LLMScorer:
    """Scores the first ``budget`` passages, ``batch`` per prompt, within ``timeout_s``."""

    kind = "llm"

    def __init__(
        self, chat: ChatBackend, *, budget: int = 20, batch: int = 10, timeout_s: float = 30.0
    ) -> None:
        self.chat = chat
        self.budget = budget
        self.batch = batch
        self.timeout_s = timeout_s

    async def _score_batch(self, query: str, passages: Sequence[str]) -> list[float]:
        answer = await self.chat.complete(
            build_prompt(query, passages),
            # About 4 tokens a line ("12: 7\n"), with room for a stray preamble.
            max_tokens=6 * len(passages) + 16,
            temperature=0.0,
        )
        return parse_scores(answer, len(passages))

    async def _score_all(self, query: str, batches: list[list[str]]) -> list[list[float]]:
        """Every batch at once; the first failure cancels the others."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._score_batch(query, b)) for b in batches]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [t.result() for t in tasks]

    async def score(self, query: str, passages: Sequence[str]) -> list[Scored]:
        chosen = list(passages[: self.budget])
        batches = [chosen[i : i + self.batch] for i in range(0, len(chosen), self.batch)]
        try:
            results = await asyncio.wait_for(self._score_all(query, batches), self.timeout_s)
        except TimeoutError:
            return self._fallback("fallback_timeout", f"no scores within {self.timeout_s:g} s")
        except Unparsable as exc:
            return self._fallback("fallback_unparsable", str(exc))
        except BackendError as exc:
            return self._fallback("fallback_error", str(exc))
        scores = [s for batch in results for s in batch]
        return [Scored(i, s) for i, s in enumerate(scores)]

    def _fallback(self, outcome: str, why: str) -> list[Scored]:
        RERANK_OUTCOMES.labels(self.kind, outcome).inc()
        log.warning("LLM reranking skipped, retrieval order kept (%s): %s", outcome, why)
        return []

    async def aclose(self) -> None:
        """The chat backend is the runtime's: closed there."""
