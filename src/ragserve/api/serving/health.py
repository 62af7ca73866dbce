"""``/readyz``: models loaded, store open, chat backend reachable (cached for a moment)."""

from __future__ import annotations

import asyncio
import time

from ragserve.embed.request_merging import MergingEmbedder
from ragserve.llm.chain import ChatChain
from ragserve.store.catalog import Catalog

CACHE_S = 5.0


class Readiness:
    def __init__(self, embedder: MergingEmbedder, catalog: Catalog, chain: ChatChain) -> None:
        self.embedder = embedder
        self.catalog = catalog
        self.chain = chain
        self._cached: tuple[float, bool, dict[str, str]] | None = None
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Drop the cached answer (the backends changed)."""
        self._cached = None

    async def check(self) -> tuple[bool, dict[str, str]]:
        async with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < CACHE_S:
                return self._cached[1], self._cached[2]
            checks: dict[str, str] = {}
            ok = True
            try:
                await self.embedder.aembed("query", ["ready?"])
                checks["embedder"] = f"ok: {self.embedder.model_id}"
            except Exception as exc:
                ok, checks["embedder"] = False, f"failed: {exc}"
            try:
                n = len(await asyncio.to_thread(self.catalog.list_collections))
                checks["store"] = f"ok: {n} collection(s)"
            except Exception as exc:
                ok, checks["store"] = False, f"failed: {exc}"
            members = self.chain.members
            single = len(members) == 1
            reachable = 0
            for member in members:
                backend = member.backend
                key = "chat" if single else f"chat:{member.name}"
                circuit = "" if single else f" (circuit {member.breaker.state.value})"
                try:
                    await asyncio.wait_for(backend.list_models(), 10)
                    model = await asyncio.wait_for(backend.model_name(), 10)
                    checks[key] = f"ok: {model} at {backend.base_url}{circuit}"
                    reachable += 1
                except Exception as exc:
                    checks[key] = f"unreachable: {exc}{circuit}"
            for name, reason in self.chain.skipped.items():
                # Reported, not fatal: the rest of the chain serves while it is fixed.
                checks[f"chat:{name}"] = f"broken (left out of the chain): {reason}"
            ok = ok and reachable > 0  # one live backend in the chain can serve
            self._cached = (time.monotonic(), ok, checks)
            return ok, checks
