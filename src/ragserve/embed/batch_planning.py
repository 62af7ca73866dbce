"""Token-budget batching: sort by length, then fill batches up to a padded-token budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ragserve.embed.base import Vectors


def plan_batches(lengths: Sequence[int], token_budget: int, max_batch: int) -> list[list[int]]:
    """Group indices into batches whose padded size (count × longest) fits the budget.

    Sorting by length first keeps padding small; a text longer than the budget still gets
    a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        length = max(lengths[i], 1)
        width = max(longest, length)
        if current and (width * (len(current) + 1) > token_budget or len(current) >= max_batch):
            batches.append(current)
            current, width = [], length
        current.append(i)
        longest = width
    if current:
        batches.append(current)
    return batches


def embed_batched(
    lengths: Sequence[int],
    token_budget: int,
    max_batch: int,
    embed: Callable[[list[int]], Vectors],
) -> Vectors:
    """Run ``embed`` on planned batches of indices; rows come back in input order."""
    out: Vectors | None = None
    for batch in plan_batches(lengths, token_budget, max_batch):
        vectors = embed(batch)
        if out is None:
            out = np.zeros((len(lengths), vectors.shape[1]), dtype=np.float32)
        out[batch] = vectors
    assert out is not None, "embed_batched needs at least one text"
    return out
