"""``/readyz``: models loaded, store open, chat backend reachable (cached for a moment)."""

from __future__ import annotations

import asyncio
import time

from ragserve.embed.request_merging import MergingEmbedder
from ragserve.llm.base import ChatBackend
from ragserve.llm.fallback import FallbackChat
from ragserve.store.catalog import Catalog

CACHE_S = 5.0


class Readiness:
    def __init__(self, embedder: MergingEmbedder, catalog: Catalog, chat: ChatBackend) -> None:
        self.embedder = embedder
        self.catalog = catalog
        self.chat = chat
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
                n = len(await asyncio.to_thread(self.catalog.collections))
                checks["store"] = f"ok: {n} collection(s)"
            except Exception as exc:
                ok, checks["store"] = False, f"failed: {exc}"
            members = (
                [(m.name, m.backend, m.breaker.state.value) for m in self.chat.members]
                if isinstance(self.chat, FallbackChat)
                else [("", self.chat, None)]
            )
            reachable = 0
            for name, backend, state in members:
                key = f"chat:{name}" if name else "chat"
                circuit = f" (circuit {state})" if state else ""
                try:
                    await asyncio.wait_for(backend.list_models(), 10)
                    model = await asyncio.wait_for(backend.model_name(), 10)
                    checks[key] = f"ok: {model} at {backend.base_url}{circuit}"
                    reachable += 1
                except Exception as exc:
                    checks[key] = f"unreachable: {exc}{circuit}"
            ok = ok and reachable > 0  # one live backend in the chain can serve
            self._cached = (time.monotonic(), ok, checks)
            return ok, checks
