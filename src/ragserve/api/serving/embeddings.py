"""``POST /v1/embeddings``: the in-process embedder behind dynamic batching, OpenAI-shaped."""

from __future__ import annotations

import asyncio
import base64

import numpy as np

from ragserve.embed.request_merging import MergingEmbedder
from ragserve.errors import InvalidRequest, NotFound
from ragserve.protocol import EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage


class EmbeddingServing:
    def __init__(self, embedder: MergingEmbedder) -> None:
        self.embedder = embedder

    def model_ids(self) -> list[str]:
        return [self.embedder.model_id]

    def _count_tokens(self, texts: list[str]) -> int:
        return sum(len(t) for t in self.embedder.tokenizer.token_offsets(texts))

    async def create(self, request: EmbeddingRequest) -> EmbeddingResponse:
        if request.model not in (self.embedder.model_id, "default"):
            raise NotFound(
                f"embedding model {request.model!r} is not served here; use "
                f"{self.embedder.model_id!r} (see /v1/models)"
            )
        # The schema already holds it to 1-2,048 non-empty texts (protocol.EmbeddingRequest).
        texts = [request.input] if isinstance(request.input, str) else list(request.input)
        if request.dimensions is not None and request.dimensions != self.embedder.dimension:
            raise InvalidRequest(
                f"dimensions={request.dimensions} is not supported; this model gives "
                f"{self.embedder.dimension}",
                "dimensions",
            )
        if self.embedder.counts_tokens:  # the backend counts while it tokenises
            vectors, counted = await self.embedder.aembed_counted("passage", texts)
            tokens = counted or 0
        else:  # counting is CPU work: off the event loop, while the model runs
            vectors, tokens = await asyncio.gather(
                self.embedder.aembed("passage", texts),
                asyncio.to_thread(self._count_tokens, texts),
            )
        data = [
            EmbeddingData(index=i, embedding=_encode(v, request.encoding_format))
            for i, v in enumerate(vectors)
        ]
        return EmbeddingResponse(
            data=data,
            model=self.embedder.model_id,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return [float(x) for x in vector]
