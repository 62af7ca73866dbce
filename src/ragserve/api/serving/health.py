"""``/readyz``: what this pod can serve (embedder loaded, store open), plus backend health.

Readiness is about this pod only. A chat backend (vLLM) that restarts is reported — in the
body and as ``ragserve_backend_reachable`` / ``ragserve_backend_up`` — but never makes the pod
unready: every ragserve pod shares the same backends, so failing readiness on them would take
all of them out of their Service at once, turning a vLLM restart into a full outage (and the
chain's fallback, or the error event a client gets, is the better answer while it restarts).

The SQL database is checked with one ``SELECT 1``. SQLite is this pod's own file: failing, the
pod is unready. A database server (PostgreSQL) is shared by every pod like the backends, so it
is reported as down but leaves the pod ready, for the same reason: every request then answers
503 with ``Retry-After`` and a message naming the database, which tells a client more than
a Service with no endpoints would.

Backends are probed in the background, concurrently, each with a short timeout; a probe
waits at most :data:`PROBE_WAIT_S` for fresh results and otherwise reports the last ones, so
a slow backend never makes the probe itself slow (kubelet's default timeout is 1 s).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ragserve.embed.request_merging import MergingEmbedder
from ragserve.llm.chain import ChainMember, ChatChain
from ragserve.store.catalog import Catalog

#: How long answers are reused before the next probe checks again.
CACHE_S = 5.0
#: Longest one backend's probe (``/models``) may take before it counts as unreachable.
PROBE_TIMEOUT_S = 3.0
#: Longest ``/readyz`` waits for backend probes in flight before reporting the last results.
PROBE_WAIT_S = 0.5
#: Longest the embedder and the store may take to answer before the pod counts as unready.
LOCAL_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class BackendProbe:
    ok: bool
    text: str
    at: float


class Readiness:
    def __init__(self, embedder: MergingEmbedder, catalog: Catalog, chain: ChatChain) -> None:
        self.embedder = embedder
        self.catalog = catalog
        self.chain = chain
        self._local: tuple[float, bool, dict[str, str]] | None = None
        self._lock = asyncio.Lock()
        self._probes: dict[str, BackendProbe] = {}
        self._probing: asyncio.Task[None] | None = None
        self._probed_at = 0.0

    def forget(self) -> None:
        """Drop cached answers (the backends changed)."""
        self._local = None
        self._probed_at = 0.0

    def backends(self) -> dict[str, BackendProbe]:
        """The latest probe of each chat backend, by name (for ``/metrics``)."""
        names = {m.name for m in self.chain.members}
        return {name: p for name, p in self._probes.items() if name in names}

    def refresh_backends(self) -> asyncio.Task[None]:
        """Start probing the backends unless a probe is running or recent; never waits."""
        stale = time.monotonic() - self._probed_at >= CACHE_S
        if (self._probing is None or self._probing.done()) and stale:
            self._probed_at = time.monotonic()
            self._probing = asyncio.create_task(self._probe_all(self.chain.members))
        assert self._probing is not None
        return self._probing

    async def _probe_all(self, members: list[ChainMember]) -> None:
        await asyncio.gather(*(self._probe(m) for m in members))

    async def _probe(self, member: ChainMember) -> None:
        backend = member.backend
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await backend.list_models()
                model = await backend.model_name()
            probe = BackendProbe(True, f"ok: {model} at {backend.base_url}", time.monotonic())
        except TimeoutError:
            text = f"unreachable: no answer from {backend.base_url} within {PROBE_TIMEOUT_S:g} s"
            probe = BackendProbe(False, text, time.monotonic())
        except Exception as exc:
            probe = BackendProbe(False, f"unreachable: {exc}", time.monotonic())
        self._probes[member.name] = probe

    async def _local_checks(self) -> tuple[bool, dict[str, str]]:
        async with self._lock:
            if self._local and time.monotonic() - self._local[0] < CACHE_S:
                return self._local[1], dict(self._local[2])
            checks: dict[str, str] = {}
            ok = True
            try:
                async with asyncio.timeout(LOCAL_TIMEOUT_S):
                    await self.embedder.aembed("query", ["ready?"])
                checks["embedder"] = f"ok: {self.embedder.model_id}"
            except Exception as exc:
                ok, checks["embedder"] = False, f"failed: {exc!r}"
            db = self.catalog.db
            try:
                async with asyncio.timeout(LOCAL_TIMEOUT_S):
                    await asyncio.to_thread(db.ping)
                checks["database"] = f"ok: {db.name}"
            except Exception as exc:  # DatabaseUnavailable, or a timeout (which says nothing)
                reason = str(exc) or f"no answer from the {db.name} in {LOCAL_TIMEOUT_S:g} s"
                checks["database"] = f"down: {reason}"
                checks["store"] = "not checked: the database is down"
                ok = ok and db.shared
            else:
                try:
                    async with asyncio.timeout(LOCAL_TIMEOUT_S):
                        n = len(await asyncio.to_thread(self.catalog.list_collections))
                    checks["store"] = f"ok: {n} collection(s)"
                except Exception as exc:
                    ok, checks["store"] = False, f"failed: {exc!r}"
            self._local = (time.monotonic(), ok, checks)
            return ok, dict(checks)

    async def check(self) -> tuple[bool, dict[str, str]]:
        """Ready when the embedder and the store answer; backends and a shared database are
        reported, not fatal."""
        probing = self.refresh_backends()
        ok, checks = await self._local_checks()
        # Fresh backend results if they come quickly; the last known ones otherwise.
        await asyncio.wait({probing}, timeout=PROBE_WAIT_S)
        members = self.chain.members
        single = len(members) == 1
        for member in members:
            key = "chat" if single else f"chat:{member.name}"
            circuit = "" if single else f" (circuit {member.breaker.state.value})"
            probe = self._probes.get(member.name)
            text = probe.text if probe else f"checking: no answer within {PROBE_WAIT_S:g} s yet"
            checks[key] = text + circuit
        for name, reason in self.chain.skipped.items():
            # Reported, not fatal: the rest of the chain serves while it is fixed.
            checks[f"chat:{name}"] = f"broken (left out of the chain): {reason}"
        return ok, checks
