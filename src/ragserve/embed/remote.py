"""Embeddings from an OpenAI-compatible `/v1/embeddings` (vLLM --runner pooling, TEI, Ollama)."""

from __future__ import annotations

import random
import time
from typing import cast

import httpx
import numpy as np

from ragserve.embed.base import PrefixedEmbedder, TextTokenizer, Vectors, normalize
from ragserve.embed.batching import embed_batched
from ragserve.errors import BackendError, BackendUnavailable, EmbeddingError
from ragserve.remote import auth_headers, check_response, map_transport_error


def _sentence_vector(embedding: list[float] | list[list[float]]) -> Vectors:
    """One vector per input; token-level answers (llama.cpp without pooling) are mean-pooled."""
    array: Vectors = np.asarray(embedding, dtype=np.float32)
    if array.ndim == 2:
        return cast(Vectors, array.mean(axis=0))
    if array.ndim != 1:
        raise ValueError(f"embedding has shape {array.shape}")
    return array


class RemoteEmbedder(PrefixedEmbedder):
    """Calls a remote embedding server in token-budget batches, retrying transient failures."""

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: TextTokenizer,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        batch_tokens: int = 8192,
        max_batch: int = 128,
        max_tokens: int = 512,
        retries: int = 3,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        self.base_url = base_url
        self.model_id = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.retries = retries
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self._client = httpx.Client(
            base_url=base_url,
            headers=auth_headers(api_key),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        )
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self._request(["dimension probe"]).shape[1])
        return self._dimension

    def _embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        lengths = [len(o) + 2 for o in self.tokenizer.token_offsets(texts)]
        out = normalize(
            embed_batched(
                lengths,
                self.batch_tokens,
                self.max_batch,
                lambda batch: self._request([texts[i] for i in batch]),
            )
        )
        if self._dimension is None:
            self._dimension = out.shape[1]
        elif out.shape[1] != self._dimension:
            raise EmbeddingError(
                f"{self.base_url} returned {out.shape[1]}-dimensional vectors, "
                f"expected {self._dimension}"
            )
        return out

    def _request(self, texts: list[str]) -> Vectors:
        url = f"{self.base_url}/embeddings"
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(
                    "/embeddings", json={"model": self.model_id, "input": texts}
                )
                check_response(response)
                data = response.json()["data"]
                ordered = sorted(data, key=lambda d: d["index"])
                if len(ordered) != len(texts):
                    raise EmbeddingError(f"{url} returned {len(ordered)} vectors for {len(texts)}")
                return np.stack([_sentence_vector(d["embedding"]) for d in ordered])
            except httpx.HTTPError as exc:
                error: BackendError = map_transport_error(exc, url)
            except BackendUnavailable as exc:
                error = exc
            except (KeyError, TypeError, ValueError) as exc:
                raise EmbeddingError(f"{url} answered in an unexpected shape: {exc}") from exc
            if attempt == self.retries:
                raise error
            # Jittered exponential backoff: embeddings are idempotent, so retrying is safe.
            time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()
