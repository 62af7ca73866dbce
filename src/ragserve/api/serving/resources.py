"""The Resources store: chat backends added, listed, tested and removed at run time.

Stored backends (SQL) come first in the chain, then the settings'. A change is built before
it is stored, so a backend that cannot be built is refused and nothing is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from ragserve.access.netguard import check_backend_url, networks
from ragserve.access.secretbox import SecretBox
from ragserve.config import BackendSpec, Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import BackendProtocolError, BackendSpecError, NotFound
from ragserve.llm.chain import ChatChain
from ragserve.openai_http import auth_headers, check_response, map_transport_error
from ragserve.protocol import (
    BackendInfo,
    BackendResource,
    EmbeddingInfo,
    ModelProbeRequest,
    ModelProbeResponse,
)
from ragserve.store.catalog import Catalog
from ragserve.store.tables import BackendRow

EMBEDDING_NOTE = (
    "Every collection stores vectors made by this model, and vectors of another model are "
    "not comparable with them: changing it means re-indexing every document, so it is set "
    "when the server starts (RAGSERVE_EMBED_MODEL), not here."
)


class ResourceServing:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        chain: ChatChain,
        reload: Callable[[], None],
        embedder: EmbeddingBackend,
        secrets: SecretBox | None = None,
    ) -> None:
        """``reload`` rebuilds the chain from the store and the settings (blocking);
        ``secrets`` seals the API keys stored (None: stored as given)."""
        self.settings = settings
        self.catalog = catalog
        self.chain = chain
        self.reload = reload
        self.embedder = embedder
        self.secrets = secrets or SecretBox(None)
        self.allow = networks(settings.backend_allowlist)

    def listing(self) -> list[BackendInfo]:
        """The chain in order with each member's circuit: stored first, then the settings'."""
        stored = {row.name for row in self.catalog.backends.ordered()}
        broken = [
            BackendInfo(
                name=name,
                source="store",
                kind="unknown",
                base_url=None,
                model=None,
                has_api_key=False,
                state="broken",
                error=reason,
            )
            for name, reason in self.chain.skipped.items()
        ]
        return broken + [
            BackendInfo(
                name=m.name,
                source="store" if m.spec.name in stored else "settings",
                kind=m.spec.kind,
                base_url=m.spec.base_url,
                model=m.spec.model,
                has_api_key=bool(m.spec.api_key),
                state=m.breaker.state.value,
            )
            for m in self.chain.members
        ]

    async def put(self, name: str, body: BackendResource) -> list[BackendInfo]:
        """Add or replace a stored backend: built first, stored only if it builds."""
        spec = _spec(name, body)
        if spec.base_url is not None:
            await asyncio.to_thread(self._refuse_blocked, spec.base_url)
        await asyncio.to_thread(self.chain.build, spec)  # refused here: nothing is stored
        stored = spec.model_dump(exclude={"name"})
        stored["api_key"] = self.secrets.seal(spec.api_key)
        row = BackendRow(name=name, spec=stored, position=body.position)
        await asyncio.to_thread(self.catalog.backends.save, row)
        await asyncio.to_thread(self.reload)
        return self.listing()

    async def delete(self, name: str) -> None:
        if not await asyncio.to_thread(self.catalog.backends.delete, name):
            raise NotFound(f"no stored backend {name!r}")
        await asyncio.to_thread(self.reload)

    async def reorder(self, names: list[str]) -> list[BackendInfo]:
        """Stored backends in the order given (those not named follow, in their order)."""
        stored = [row.name for row in await asyncio.to_thread(self.catalog.backends.ordered)]
        unknown = [n for n in names if n not in stored]
        if unknown:
            raise NotFound(
                f"no stored backend {unknown[0]!r}; the stored ones are: "
                f"{', '.join(stored) or 'none'} (backends from the settings keep their place)"
            )
        order = list(dict.fromkeys(names)) + [n for n in stored if n not in names]
        await asyncio.to_thread(self.catalog.backends.reorder, order)
        await asyncio.to_thread(self.reload)
        return self.listing()

    async def models(self, body: ModelProbeRequest) -> ModelProbeResponse:
        """The model ids an endpoint serves (its ``/models``), asked with a short timeout."""
        base = normalised_base_url(body.base_url)
        await asyncio.to_thread(self._refuse_blocked, base)
        url = f"{base}/models"
        timeout = httpx.Timeout(self.settings.models_probe_timeout_s)
        try:
            async with httpx.AsyncClient(
                timeout=timeout, headers=auth_headers(body.api_key), follow_redirects=False
            ) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, url) from exc
        check_response(response)
        try:
            ids = [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendProtocolError(
                "the answer is not an OpenAI model list: is the base URL the one ending in /v1?",
                url,
            ) from exc
        return ModelProbeResponse(base_url=base, models=ids)

    def _refuse_blocked(self, url: str) -> None:
        """Link-local and cloud-metadata addresses are refused (RAGSERVE_BACKEND_ALLOWLIST)."""
        reason = check_backend_url(url, self.allow)
        if reason is not None:
            raise BackendSpecError(f"base_url refused: {reason}", "base_url")

    def embedding(self) -> EmbeddingInfo:
        remote = self.settings.embed_base_url
        return EmbeddingInfo(
            model=self.embedder.model_id,
            dimension=self.embedder.dimension,
            backend=self.settings.resolved_embed_backend.value,
            base_url=remote,
            collections=len(self.catalog.list_collections()),
            note=EMBEDDING_NOTE,
        )


def normalised_base_url(base_url: str) -> str:
    """http(s) only, no trailing slash, no query; a bare host gets ``/v1``."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackendSpecError(
            f"base_url {base_url!r} is not an http(s) URL such as http://HOST:8000/v1",
            "base_url",
        )
    path = parts.path.rstrip("/") or "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _spec(name: str, body: BackendResource) -> BackendSpec:
    if body.base_url is not None:
        parts = urlsplit(body.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendSpecError(
                f"base_url {body.base_url!r} is not an http(s) URL such as http://HOST:8000/v1",
                "base_url",
            )
    try:
        return BackendSpec(name=name, **body.model_dump(exclude={"position"}))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BackendSpecError(f"{field}: {first['msg']}", field) from exc
