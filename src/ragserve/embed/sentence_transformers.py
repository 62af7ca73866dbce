"""In-process embeddings with any sentence-transformers model (name on the hub or a path)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ragserve.embed.base import HFTokenizer, PrefixedEmbedder, TextTokenizer, Vectors, normalize
from ragserve.embed.batch_planning import embed_batched
from ragserve.errors import ConfigError


class SentenceTransformerEmbedder(PrefixedEmbedder):
    """Wraps ``SentenceTransformer``; batches are planned here by token budget."""

    def __init__(
        self,
        name_or_path: str,
        *,
        model_id: str,
        threads: int | None = None,
        batch_tokens: int = 8192,
        max_batch: int = 128,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads or os.cpu_count() or 1)
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu")
        except OSError as exc:
            raise ConfigError(
                f"cannot load sentence-transformers model {name_or_path!r}: {exc}. Give a "
                "local folder, or a hub name with network access to download it once."
            ) from exc
        self.model_id = model_id
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.tokenizer = self._tokenizer(name_or_path)
        dim = self._model.get_embedding_dimension()
        self._dimension = int(dim) if dim else int(self._embed(["x"]).shape[1])

    def _tokenizer(self, name_or_path: str) -> TextTokenizer:
        fast = getattr(self._model.tokenizer, "backend_tokenizer", None)
        if fast is not None:
            from tokenizers import Tokenizer

            return HFTokenizer(Tokenizer.from_str(fast.to_str()))
        file = Path(name_or_path) / "tokenizer.json"
        if file.exists():
            return HFTokenizer.from_file(file)
        raise ConfigError(f"model {name_or_path!r} has no fast tokenizer to chunk with")

    @property
    def dimension(self) -> int:
        return self._dimension

    def _embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, getattr(self, "_dimension", 1)), dtype=np.float32)
        lengths = [min(len(o) + 2, self.max_tokens) for o in self.tokenizer.token_offsets(texts)]

        def run(batch: list[int]) -> Vectors:
            vectors: Vectors = self._model.encode(
                [texts[i] for i in batch],
                batch_size=len(batch),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return vectors

        return normalize(embed_batched(lengths, self.batch_tokens, self.max_batch, run))
