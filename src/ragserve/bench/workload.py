"""What a benchmark sends: synthetic prompts of a given length, or prompts from a file."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ragserve.bench.client import Messages
from ragserve.errors import ConfigError

# Common short English words: about one token each in BPE and WordPiece vocabularies.
_WORDS = (
    "the of and to in is for on that by this with you it not or be are from at as your all "
    "have new more an was we will home can us about if page my has search free but our one "
    "other do no information time they site he up may what which their news out use any "
    "there see only so his when contact here business who web also now help get view online"
).split()


def synthetic(count: int, input_len: int, seed: int = 0) -> list[Messages]:
    """``count`` distinct prompts of about ``input_len`` tokens (the server's usage reports
    the exact prompt size; distinct prompts keep prefix caches from flattering the server)."""
    rng = random.Random(seed)
    prompts = []
    for i in range(count):
        words = [rng.choice(_WORDS) for _ in range(max(1, input_len - 4))]
        prompts.append([{"role": "user", "content": f"{i}: " + " ".join(words)}])
    return prompts


def from_jsonl(path: Path) -> list[Messages]:
    """One prompt per line: ``{"prompt": "..."}``, ``{"question": "..."}`` or
    ``{"messages": [...]}``. RAG questions against ragserve: point --base-url at its /v1
    and use --model rag:<collection>."""
    prompts: list[Messages] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not JSON ({exc})") from exc
        if "messages" in row:
            prompts.append(row["messages"])
        elif "prompt" in row or "question" in row:
            prompts.append(
                [{"role": "user", "content": str(row.get("prompt", row.get("question")))}]
            )
        else:
            raise ConfigError(f"{path}:{n}: needs `prompt`, `question` or `messages`")
    if not prompts:
        raise ConfigError(f"{path} holds no prompts")
    return prompts
