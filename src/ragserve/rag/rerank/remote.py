"""Cross-encoder servers over HTTP, in the three request shapes in use today.

    cohere  POST /v1/rerank or /rerank  {model, query, documents, top_n}
            → {"results": [{"index", "relevance_score"}]}     vLLM, Jina, Cohere, Infinity
    tei     POST /rerank                {query, texts, raw_scores, truncate}
            → [{"index", "score"}]                            text-embeddings-inference
    score   POST /v1/score or /score    {model, text_1, text_2: [...]}
            → {"data": [{"index", "score"}]}                  vLLM

A failing server is an error naming the endpoint (HTTP 502/504 through the API), never a
silent fallback: a configured reranker that is down is something an operator must see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from ragserve.config import RerankApi, Settings
from ragserve.errors import BackendProtocolError
from ragserve.openai_http import auth_headers, check_response, map_transport_error
from ragserve.rag.rerank.base import Scored

#: The path each API is usually served at, for a URL given without one.
DEFAULT_PATHS = {
    RerankApi.cohere: "/v1/rerank",
    RerankApi.tei: "/rerank",
    RerankApi.score: "/v1/score",
}


def endpoint(url: str, api: RerankApi) -> str:
    """``url`` as given, or with the API's usual path when it has none."""
    if urlsplit(url).path.strip("/"):
        return url
    return url.rstrip("/") + DEFAULT_PATHS[api]


def request_body(api: RerankApi, model: str | None, query: str, texts: list[str]) -> dict[str, Any]:
    if api is RerankApi.tei:
        # truncate: TEI refuses inputs over the model's length instead of cutting them.
        return {"query": query, "texts": texts, "raw_scores": False, "truncate": True}
    body: dict[str, Any]
    if api is RerankApi.score:
        body = {"text_1": query, "text_2": texts}
    else:
        # top_n: every document back, since the stage keeps its own top_k.
        body = {"query": query, "documents": texts, "top_n": len(texts)}
    if model:
        body["model"] = model
    return body


def parse_scores(api: RerankApi, body: Any) -> list[Scored]:
    """The (index, score) pairs of a response; KeyError/TypeError/ValueError on another shape."""
    if api is RerankApi.tei:
        items, key = body, "score"
    elif api is RerankApi.score:
        items, key = body["data"], "score"
    else:
        items, key = body["results"], "relevance_score"
    if not isinstance(items, list):
        raise TypeError(f"expected a list, got {type(items).__name__}")
    return [Scored(int(item["index"]), float(item[key])) for item in items]


class RemoteScorer:
    """Scores passages with one request to a cross-encoder server."""

    kind = "remote"

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> RemoteScorer:
        """The scorer ``RAGSERVE_RERANK_*`` describes, at ``url`` (the configured one)."""
        return cls(
            url,
            settings.rerank_api,
            model=settings.rerank_model,
            api_key=settings.rerank_api_key,
            timeout_s=settings.rerank_timeout_s,
        )

    def __init__(
        self,
        url: str,
        api: RerankApi,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.api = api
        self.url = endpoint(url, api)
        self.model = model
        self._client = httpx.AsyncClient(
            headers=auth_headers(api_key),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        )

    async def score(self, query: str, passages: Sequence[str]) -> list[Scored]:
        texts = list(passages)
        try:
            response = await self._client.post(
                self.url, json=request_body(self.api, self.model, query, texts)
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.url) from exc
        check_response(response)
        try:
            scored = parse_scores(self.api, response.json())
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendProtocolError(
                f"the reranker answered in a shape other than RAGSERVE_RERANK_API="
                f"{self.api.value} expects ({type(exc).__name__}: {exc})",
                self.url,
            ) from exc
        if sorted(s.index for s in scored) != list(range(len(texts))):
            raise BackendProtocolError(
                f"the reranker scored passages {sorted(s.index for s in scored)[:20]} of "
                f"{len(texts)}",
                self.url,
            )
        return scored

    async def aclose(self) -> None:
        await self._client.aclose()
