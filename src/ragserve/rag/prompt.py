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


def build_messages(
    question: str,
    sources: Sequence[Citation],
    history: Sequence[ChatMessage],
    *,
    context_window: int,
    max_tokens: int,
) -> tuple[list[ChatMessage], list[Citation]]:
    """Messages for the model, and the sources that fit (in rank order).

    History gets at most a quarter of the room; sources take what is left, best first.
    """
    budget = context_window - max_tokens - _MARGIN_TOKENS
    budget -= estimate_tokens(INSTRUCTION) + estimate_tokens(question) + 40
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
        block = format_source(source)
        cost = estimate_tokens(block) + 4
        if cost > budget:
            break
        used.append(source)
        blocks.append(block)
        budget -= cost
    sources_text = "\n\n".join(blocks) if blocks else "(none found)"
    user = f"Sources:\n{sources_text}\n\n{INSTRUCTION}\nQuestion: {question}"
    messages: list[ChatMessage] = list(kept_history)
    messages.append({"role": "user", "content": user})
    return messages, used
