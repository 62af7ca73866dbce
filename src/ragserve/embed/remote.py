"""Embeddings from an OpenAI-compatible `/v1/embeddings` (vLLM --runner pooling, TEI, Ollama)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import cast

import httpx
import numpy as np

from ragserve.breaker import CircuitBreaker
from ragserve.embed.base import PrefixedEmbedder, TextTokenizer, Vectors, normalize
from ragserve.embed.batch_planning import embed_batched
from ragserve.errors import BackendError, BackendTimeout, BackendUnavailable, EmbeddingError
from ragserve.openai_http import auth_headers, check_response, map_transport_error


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
        replicas: Sequence[str] = (),
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
        # The same model served elsewhere: vectors from another model would not match the
        # collection, so fallback is only ever between replicas.
        self.urls = [base_url, *replicas]
        self._breakers = {url: CircuitBreaker(failures=3, cooldown_s=10.0) for url in self.urls}
        self._client = httpx.Client(
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
        error: BackendError | None = None
        for attempt in range(self.retries + 1):
            candidates = [u for u in self.urls if self._breakers[u].allow()] or self.urls[:1]
            for base in candidates:
                try:
                    vectors = self._post(base, texts)
                except (BackendUnavailable, BackendTimeout) as exc:
                    self._breakers[base].failure(str(exc))
                    error = exc
                    continue  # the next replica, at once
                self._breakers[base].success()
                return vectors
            if attempt < self.retries:
                # Jittered exponential backoff: embeddings are idempotent, so retrying is safe.
                time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
        assert error is not None
        raise error

    def _post(self, base: str, texts: list[str]) -> Vectors:
        url = f"{base}/embeddings"
        try:
            response = self._client.post(url, json={"model": self.model_id, "input": texts})
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, url) from exc
        check_response(response)
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda d: d["index"])
            if len(ordered) != len(texts):
                raise EmbeddingError(f"{url} returned {len(ordered)} vectors for {len(texts)}")
            return np.stack([_sentence_vector(d["embedding"]) for d in ordered])
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"{url} answered in an unexpected shape: {exc}") from exc

    def health(self) -> list[dict[str, object]]:
        """Per-replica breaker state, for /metrics."""
        return [
            {"name": url, "state": b.state.value, "failures": b.total_failures,
             "successes": b.total_successes}
            for url, b in self._breakers.items()
        ]  # fmt: skip

    def close(self) -> None:
        self._client.close()
