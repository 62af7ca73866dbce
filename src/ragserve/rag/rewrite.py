"""Follow-ups like "and how long does it last?" become standalone retrieval queries."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragserve.llm.base import ChatBackend, ChatMessage
from ragserve.observability.tracing import traced

REWRITE_PROMPT = (
    "Rewrite the follow-up question so that it can be understood without the conversation. "
    "Keep names and details from the conversation. Reply with only the rewritten question."
)
_WORD = re.compile(r"[A-Za-z0-9]{3,}")
_STOP = frozenset(
    [
        "and",
        "the",
        "what",
        "how",
        "does",
        "did",
        "about",
        "for",
        "with",
        "that",
        "this",
        "are",
        "was",
        "were",
        "can",
        "you",
        "your",
        "there",
        "then",
        "also",
        "any",
        "much",
        "many",
        "its",
        "they",
        "them",
        "their",
        "which",
        "who",
        "why",
        "when",
        "where",
        "from",
        "have",
        "has",
        "not",
        "but",
        "tell",
        "more",
    ]
)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def fallback_query(history: Sequence[ChatMessage], question: str) -> str:
    """Last user turn plus the follow-up: crude, but it keeps the topic's words."""
    last_user = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    return f"{last_user} {question}".strip()


@traced("rewrite", output=str)
async def standalone_query(chat: ChatBackend, history: Sequence[ChatMessage], question: str) -> str:
    """The follow-up rewritten by the model, or the fallback if the rewrite looks wrong."""
    transcript = "\n".join(f"{m['role'].capitalize()}: {m['content'][:600]}" for m in history[-6:])
    messages: list[ChatMessage] = [
        {"role": "system", "content": REWRITE_PROMPT},
        {
            "role": "user",
            "content": f"Conversation:\n{transcript}\n\nFollow-up question: {question}\n"
            "Standalone question:",
        },
    ]
    text = await chat.complete(messages, max_tokens=64, temperature=0.0)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.I).strip("\"' ")
    added = _words(line) - _words(question)
    context = _words(" ".join(m["content"] for m in history))
    missing = _words(question) - _STOP - _words(line)
    # Reject rewrites that are empty, rambling, bring in nothing from the conversation (a
    # small model often just echoes the follow-up) or drop a content word of the follow-up
    # (it sometimes repeats the previous question instead).
    if not line or len(line) > 4 * len(question) + 200 or not (added & context) or missing:
        return fallback_query(history, question)
    return line
