"""The interfaces every embedding backend implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

Vectors = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int32]


@runtime_checkable
class TextTokenizer(Protocol):
    """Counts tokens the way the embedding model will see them."""

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character (start, end) of every token of each text, special tokens excluded."""
        ...


class EmbeddingBackend(Protocol):
    """Turns texts into unit-length vectors.

    ``model_id`` and ``dimension`` are pinned in each collection built with the backend.
    """

    model_id: str
    max_tokens: int

    @property
    def tokenizer(self) -> TextTokenizer: ...

    @property
    def dimension(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...

    def close(self) -> None: ...


@runtime_checkable
class CountingBackend(Protocol):
    """A backend that counts each text's tokens while it embeds them (the CUDA embedder):
    ``/v1/embeddings`` then reports usage without tokenising the texts a second time."""

    def embed_counted(self, kind: str, texts: Sequence[str]) -> tuple[Vectors, Ints]:
        """Vectors, and each text's tokens (special tokens excluded, before truncation)."""
        ...


@runtime_checkable
class PipelinedBackend(Protocol):
    """A backend whose work splits into stages the batcher can overlap (the CUDA embedder).

        tokenize_async ─▶ (queued by priority, merged) ─▶ launch ─▶ collect
        worker processes,    the batcher's thread          queues     waits for the
        as each request      merges what is tokenised      GPU work   device, copies back
        arrives

    Requests are tokenised on arrival, side by side, instead of after merging on the one
    thread that feeds the device, and the next merged call is launched while the previous
    one still runs: the device never waits for tokenising or for results to be handed out.
    """

    def tokenize_async(self, kind: str, texts: Sequence[str], done: Callable[[Any], None]) -> None:
        """Tokenise ``texts`` off the caller's thread; ``done`` gets the ids or an exception."""
        ...

    def join_ids(self, parts: Sequence[Any]) -> Any:
        """Several requests' ids as one call's."""
        ...

    def launch(self, ids: Any) -> Any:
        """Queue the forward passes of one merged call; returns without waiting for them."""
        ...

    def collect(self, launched: Any) -> tuple[Vectors, Ints]:
        """Wait for a launched call: its vectors, and each text's tokens (as embed_counted)."""
        ...


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer, without truncation or padding."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    @classmethod
    def from_file(cls, path: Path) -> HFTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [list(e.offsets) for e in encodings]


def normalize(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return cast(Vectors, (vectors / norms).astype(np.float32, copy=False))


class PrefixedEmbedder:
    """What the built-in backends share: query/passage prefixes in front of ``_embed``."""

    query_prefix: str = ""
    passage_prefix: str = ""

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed([self.passage_prefix + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed([self.query_prefix + t for t in texts])

    def _embed(self, texts: list[str]) -> Vectors:
        raise NotImplementedError

    def close(self) -> None:
        pass
