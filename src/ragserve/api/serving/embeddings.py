"""``POST /v1/embeddings``: the in-process embedder behind dynamic batching, OpenAI-shaped."""

from __future__ import annotations

import asyncio
import base64

import numpy as np

from ragserve.embed.request_merging import MergingEmbedder
from ragserve.errors import InvalidRequest, NotFound, RequestTooLarge
from ragserve.protocol import EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

MAX_INPUTS = 2048  # OpenAI's own limit per request


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
        texts = _texts(request.input)
        if len(texts) > MAX_INPUTS:
            raise RequestTooLarge(f"{len(texts)} inputs; at most {MAX_INPUTS} per request")
        if request.dimensions is not None and request.dimensions != self.embedder.dimension:
            raise InvalidRequest(
                f"dimensions={request.dimensions} is not supported; this model gives "
                f"{self.embedder.dimension}",
                "dimensions",
            )
        # Counting tokens is CPU work: off the event loop, while the model runs.
        vectors, tokens = await asyncio.gather(
            self.embedder.aembed("passage", texts), asyncio.to_thread(self._count_tokens, texts)
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


def _texts(value: str | list[str] | list[int] | list[list[int]]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not value:
        raise InvalidRequest("input must not be empty", "input")
    if not all(isinstance(v, str) for v in value):
        raise InvalidRequest(
            "input must be text: token arrays are not accepted (LangChain's OpenAIEmbeddings "
            "sends them unless check_embedding_ctx_length=False)",
            "input",
        )
    texts = [str(v) for v in value]
    if any(not t for t in texts):
        raise InvalidRequest("input must not contain empty strings", "input")
    return texts


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return [float(x) for x in vector]
