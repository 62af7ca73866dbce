"""Every question through every retrieval mode, and optionally through the answer service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ragserve.eval import metrics
from ragserve.eval.metrics import RankedPassage
from ragserve.eval.modes import RetrievalMode
from ragserve.eval.questions import Question
from ragserve.protocol import AskResult

#: MRR and nDCG are reported at this cutoff, whatever recall cutoffs were asked for.
RANK_CUTOFF = 10

AnswerFn = Callable[[str], Awaitable[AskResult]]


@dataclass(frozen=True, slots=True)
class Retrieval:
    """One question through one mode."""

    passages: list[RankedPassage]
    gains: list[int]
    latency_ms: float

    @property
    def rank(self) -> int | None:
        return metrics.first_rank(self.gains)


@dataclass(frozen=True, slots=True)
class AnswerCheck:
    answer: str
    cited: list[str]
    contains: bool | None  # None: the question has no reference answer
    exact: bool | None
    citation_precision: float | None  # None: nothing cited

    @property
    def citation_correct(self) -> bool:
        """At least one cited document is an expected one."""
        return bool(self.citation_precision)


@dataclass(slots=True)
class Outcome:
    question: Question
    retrieval: dict[str, Retrieval] = field(default_factory=dict)
    answer: AnswerCheck | None = None


@dataclass(slots=True)
class EvalRun:
    collection: str
    split: str
    modes: list[str]
    ks: list[int]
    outcomes: list[Outcome]
    seconds: float = 0.0

    @property
    def depth(self) -> int:
        return max([*self.ks, RANK_CUTOFF])

    def scores(self, mode: str, outcomes: Sequence[Outcome] | None = None) -> dict[str, float]:
        """Means over ``outcomes`` (all by default): recall@k for each k, MRR@10, nDCG@10."""
        chosen = self.outcomes if outcomes is None else outcomes
        runs = [(o.question, o.retrieval[mode]) for o in chosen]
        out = {
            f"recall@{k}": metrics.mean([metrics.recall_at(r.gains, k) for _, r in runs])
            for k in self.ks
        }
        out[f"mrr@{RANK_CUTOFF}"] = metrics.mean(
            [metrics.reciprocal_rank(r.gains, RANK_CUTOFF) for _, r in runs]
        )
        out[f"ndcg@{RANK_CUTOFF}"] = metrics.mean(
            [metrics.ndcg_at(r.gains, RANK_CUTOFF, len(q.expected)) for q, r in runs]
        )
        return out

    def misses(self, mode: str) -> list[Outcome]:
        """Questions whose expected sources are nowhere in the first ``max(ks)`` passages."""
        k = max(self.ks)
        return [o for o in self.outcomes if not metrics.recall_at(o.retrieval[mode].gains, k)]

    def groups(self) -> dict[str, dict[str, list[Outcome]]]:
        """Outcomes by tag (``type``, ``phrasing``...) and value, for the breakdowns."""
        out: dict[str, dict[str, list[Outcome]]] = {}
        for o in self.outcomes:
            for tag, value in o.question.tags.items():
                out.setdefault(tag, {}).setdefault(value, []).append(o)
        return out

    def answer_scores(self) -> dict[str, float | int] | None:
        checked = [o.answer for o in self.outcomes if o.answer is not None]
        if not checked:
            return None
        with_ref = [a for a in checked if a.contains is not None]
        cited = [a.citation_precision for a in checked if a.citation_precision is not None]
        return {
            "answered": len(checked),
            "contains": metrics.mean([float(bool(a.contains)) for a in with_ref]),
            "exact": metrics.mean([float(bool(a.exact)) for a in with_ref]),
            "citation_correct": metrics.mean([float(a.citation_correct) for a in checked]),
            "citation_precision": metrics.mean(cited),
        }


async def retrieve_one(mode: RetrievalMode, question: Question, depth: int) -> Retrieval:
    started = time.perf_counter()
    hits = await mode(question.question, depth)
    latency_ms = (time.perf_counter() - started) * 1000
    passages = [RankedPassage(h.source, h.score, h.page) for h in hits[:depth]]
    return Retrieval(passages, metrics.gains(question.expected, passages), latency_ms)


def check_answer(question: Question, result: AskResult) -> AnswerCheck:
    ref = question.reference_answer
    cited = [c.source for c in result.citations]
    return AnswerCheck(
        answer=result.answer,
        cited=cited,
        contains=None if ref is None else metrics.answer_contains(result.answer, ref),
        exact=None if ref is None else metrics.answer_exact(result.answer, ref),
        citation_precision=metrics.citation_precision(question.expected, cited),
    )


async def evaluate(
    questions: Sequence[Question],
    modes: Mapping[str, RetrievalMode],
    ks: Sequence[int],
    *,
    collection: str,
    split: str = "all",
    answer: AnswerFn | None = None,
    on_question: Callable[[Outcome], None] | None = None,
) -> EvalRun:
    """Questions one at a time (latencies stay comparable), each through every mode."""
    started = time.perf_counter()
    run = EvalRun(collection, split, list(modes), sorted(set(ks)), [])
    for question in questions:
        outcome = Outcome(question)
        for name, mode in modes.items():
            outcome.retrieval[name] = await retrieve_one(mode, question, run.depth)
        if answer is not None:
            outcome.answer = check_answer(question, await answer(question.question))
        run.outcomes.append(outcome)
        if on_question is not None:
            on_question(outcome)
    run.seconds = time.perf_counter() - started
    return run
