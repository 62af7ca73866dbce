"""Packing numbered sources and history into the model's context window."""

from __future__ import annotations

from collections.abc import Sequence

from ragserve.llm.base import ChatMessage
from ragserve.protocol import Citation

#: Placed after the sources, in the user turn: small models (SmolLM2-135M) follow an
#: instruction next to the question far better than a system prompt, and large ones do too.
INSTRUCTION = (
    "Using only these sources, answer the question concisely and cite the sources you use "
    "by number, like [1]. If the sources do not contain the answer, say that you do not know."
)

#: The small-model shape (the embedded llama.cpp models): SmolLM2-135M copied a source's
#: header ("1. [2] (…/functools.html, lru_cache ¶)") or answered "1" when shown paths and
#: many passages; without paths, with few passages and a plainer instruction it writes a
#: sentence (benchmarks/RESULTS.md, "Answer quality").
COMPACT_INSTRUCTION = (
    "Answer the question in one or two sentences, using only the text above. After the "
    "sentence, write the number of the text you used in brackets, like [1]. Do not repeat "
    "the numbers or titles of the texts."
)
#: Passages a small model is given at most: more only dilutes its attention (and each one
#: costs seconds of prompt processing on a CPU).
COMPACT_SOURCES = 3

#: Characters per token assumed when packing; low on purpose so the prompt never overflows.
CHARS_PER_TOKEN = 3.0
_MARGIN_TOKENS = 64


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def format_source(c: Citation) -> str:
    where = [c.source]
    if c.page is not None:
        where.append(f"page {c.page}")
    if c.heading:
        where.append(c.heading)
    return f"[{c.n}] ({', '.join(where)})\n{c.text}"


def format_compact_source(c: Citation) -> str:
    """A passage for a small model: its number and the text, no path or heading to copy."""
    return f"[{c.n}] {c.text}"


def build_messages(
    question: str,
    sources: Sequence[Citation],
    history: Sequence[ChatMessage],
    *,
    context_window: int,
    max_tokens: int,
    compact: bool = False,
) -> tuple[list[ChatMessage], list[Citation]]:
    """Messages for the model, and the sources that fit (in rank order).

    History gets at most a quarter of the room; sources take what is left, best first.
    ``compact``: the small-model shape (see ``COMPACT_INSTRUCTION``).
    """
    instruction = COMPACT_INSTRUCTION if compact else INSTRUCTION
    if compact:
        sources = sources[:COMPACT_SOURCES]
    budget = context_window - max_tokens - _MARGIN_TOKENS
    budget -= estimate_tokens(instruction) + estimate_tokens(question) + 40
    kept_history: list[ChatMessage] = []
    history_budget = budget // 4
    for message in reversed(history):
        cost = estimate_tokens(message["content"]) + 8
        if cost > history_budget:
            break
        kept_history.insert(0, message)
        history_budget -= cost
        budget -= cost
    used: list[Citation] = []
    blocks: list[str] = []
    for source in sources:
        block = format_compact_source(source) if compact else format_source(source)
        cost = estimate_tokens(block) + 4
        if cost > budget:
            break
        used.append(source)
        blocks.append(block)
        budget -= cost
    sources_text = "\n\n".join(blocks) if blocks else "(none found)"
    if compact:
        user = f"{sources_text}\n\nQuestion: {question}\n{instruction}"
    else:
        user = f"Sources:\n{sources_text}\n\n{instruction}\nQuestion: {question}"
    messages: list[ChatMessage] = list(kept_history)
    messages.append({"role": "user", "content": user})
    return messages, used
