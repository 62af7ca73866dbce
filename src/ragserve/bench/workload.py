"""What a benchmark sends: synthetic prompts of a given length, or prompts from a file."""

from __future__ import annotations

import random
from pathlib import Path

from tokenizers import Tokenizer

from ragserve.bench.client import Messages
from ragserve.errors import ConfigError
from ragserve.jsonl import jsonl_rows

# Common short English words: about one token each in BPE and WordPiece vocabularies.
_WORDS = (
    "the of and to in is for on that by this with you it not or be are from at as your all "
    "have new more an was we will home can us about if page my has search free but our one "
    "other do no information time they site he up may what which their news out use any "
    "there see only so his when contact here business who web also now help get view online"
).split()


def load_tokenizer(name: str) -> Tokenizer:
    """A Hugging Face tokenizer: a ``tokenizer.json`` path, a folder holding one, or a hub
    name (needs the network or the hub cache)."""
    path = Path(name)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return Tokenizer.from_file(str(path))
    try:
        return Tokenizer.from_pretrained(name)
    except Exception as exc:
        raise ConfigError(f"cannot load tokenizer {name!r}: {exc}") from exc


def synthetic(
    count: int, input_len: int, seed: int = 0, tokenizer: Tokenizer | None = None
) -> list[Messages]:
    """``count`` distinct prompts of ``input_len`` tokens. With the served model's
    ``tokenizer`` the count is exact (chat-template tokens aside); without one, about one
    token per word. Distinct prompts keep prefix caches from flattering the server."""
    rng = random.Random(seed)
    prompts = []
    for i in range(count):
        words = [f"{i}:"] + [rng.choice(_WORDS) for _ in range(max(1, input_len - 1))]
        text = " ".join(words)
        if tokenizer is not None:
            # Some tokenizer.json files pad or truncate (MiniLM's pads to 128): counting
            # needs neither.
            tokenizer.no_padding()
            tokenizer.no_truncation()
            text = _fit(tokenizer, words, input_len)
        prompts.append([{"role": "user", "content": text}])
    return prompts


def _fit(tokenizer: Tokenizer, words: list[str], target: int) -> str:
    """Grow or cut ``words`` until the text is ``target`` tokens (or just under)."""

    def count(n: int) -> int:
        return len(tokenizer.encode(" ".join(words[:n]), add_special_tokens=False).ids)

    while count(len(words)) < target:
        words = words + words[1 : 1 + max(1, target - count(len(words)))]
    lo, hi = 1, len(words)
    while lo < hi:  # the most words whose text fits in ``target`` tokens
        mid = (lo + hi + 1) // 2
        if count(mid) <= target:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def from_jsonl(path: Path) -> list[Messages]:
    """One prompt per line: ``{"prompt": "..."}``, ``{"question": "..."}`` or
    ``{"messages": [...]}``. RAG questions against ragserve: point --base-url at its /v1
    and use --model rag:<collection>."""
    prompts: list[Messages] = []
    for n, row in jsonl_rows(path):
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
