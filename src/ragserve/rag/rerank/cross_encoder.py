"""A sentence-transformers ``CrossEncoder`` in-process: any model by name or local path."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ragserve.errors import ConfigError
from ragserve.rag.rerank.base import Scored

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


class CrossEncoderScorer:
    """Loads the model on first use (torch is a slow import), then scores on the CPU."""

    kind = "cross-encoder"

    def __init__(self, model: str, batch_size: int = 16, max_length: int = 512) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    def _load(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import CrossEncoder
                except ImportError as exc:
                    raise ConfigError(
                        "RAGSERVE_RERANK=cross-encoder needs sentence-transformers: "
                        "pip install 'ragserve[sentence-transformers]'"
                    ) from exc
                try:
                    self._model = CrossEncoder(
                        self.model_name, device="cpu", max_length=self.max_length
                    )
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cannot load the cross-encoder {self.model_name!r} "
                        f"(RAGSERVE_RERANK_MODEL): {exc}"
                    ) from exc
            return self._model

    def _predict(self, query: str, passages: list[str]) -> list[float]:
        model = self._load()
        scores = model.predict(
            [(query, p) for p in passages],
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [float(s) for s in scores.reshape(len(passages), -1)[:, -1]]

    async def score(self, query: str, passages: Sequence[str]) -> list[Scored]:
        # Model work: off the event loop.
        scores = await asyncio.to_thread(self._predict, query, list(passages))
        return [Scored(i, s) for i, s in enumerate(scores)]

    async def aclose(self) -> None:
        self._model = None
