"""The Resources store: chat backends added, listed, tested and removed at run time.

Stored backends (SQL) come first in the chain, then the settings'. A change is built before
it is stored, so a backend that cannot be built is refused and nothing is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

from pydantic import ValidationError

from ragserve.config import BackendSpec
from ragserve.errors import BackendSpecError, NotFound
from ragserve.llm.chain import ChatChain
from ragserve.protocol import BackendInfo, BackendResource
from ragserve.store.catalog import Catalog
from ragserve.store.tables import BackendRow


class ResourceServing:
    def __init__(self, catalog: Catalog, chain: ChatChain, reload: Callable[[], None]) -> None:
        """``reload`` rebuilds the chain from the store and the settings (blocking)."""
        self.catalog = catalog
        self.chain = chain
        self.reload = reload

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
        await asyncio.to_thread(self.chain.build, spec)  # refused here: nothing is stored
        row = BackendRow(name=name, spec=spec.model_dump(exclude={"name"}), position=body.position)
        await asyncio.to_thread(self.catalog.backends.save, row)
        await asyncio.to_thread(self.reload)
        return self.listing()

    async def delete(self, name: str) -> None:
        if not await asyncio.to_thread(self.catalog.backends.delete, name):
            raise NotFound(f"no stored backend {name!r}")
        await asyncio.to_thread(self.reload)


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
