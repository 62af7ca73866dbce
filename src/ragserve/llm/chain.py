"""The chat chain: the backends in fallback order, with their clients, breakers and health.

Backends come from two places, in order: the Resources store (added through the API, kept in
SQL) and then the settings (``RAGSERVE_LLM_*`` or ``RAGSERVE_LLM_BACKENDS``; by default the
embedded server, the last resort). Whoever knows both — the runtime — hands the list to
:meth:`ChatChain.reload`; this module never reads the store.

A request goes to the first member whose circuit is closed. Connect errors, 5xx, auth and 404
errors and first-token timeouts move it to the next member — nothing has reached the user
yet. Once a token has been streamed, a failure ends the stream with the error: a
half-written answer is never silently continued by another model.

Answers, readiness, ``/metrics``, the Resources routes, the doctor and the ``/v1``
pass-through all read this one object, so a reload reaches all of them at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from ragserve.breaker import CircuitBreaker
from ragserve.config import BackendSpec, Settings
from ragserve.errors import BackendError, BackendUnavailable
from ragserve.llm.base import ChatBackend, ChatMessage, TokenUsage, stream_counting
from ragserve.llm.kinds import ChatSetup, build_one
from ragserve.observability import metrics, tracing

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainMember:
    spec: BackendSpec
    backend: ChatBackend
    description: str
    breaker: CircuitBreaker

    @property
    def name(self) -> str:
        return self.spec.label


@dataclass(frozen=True, slots=True)
class PassthroughTarget:
    """Where ``/v1`` requests for the backend's own models go: the first member."""

    base_url: str
    api_key: str | None


def _key(spec: BackendSpec) -> str:
    return spec.model_dump_json()


class ChatChain:
    """A ``ChatBackend`` over ordered members; it reports as the member that served."""

    def __init__(self, settings: Settings, stack: ExitStack) -> None:
        self.settings = settings
        self.stack = stack
        self._members: list[ChainMember] = []
        # Clients by spec: an unchanged backend keeps its client (and a running embedded
        # server is not restarted) across reloads.
        self._built: dict[str, ChatSetup] = {}
        self._lock = threading.Lock()
        self._window: int | None = None
        #: Stored entries left out of the chain, by name, with the reason (see ``reload``).
        self.skipped: dict[str, str] = {}

    @classmethod
    def of(
        cls,
        clients: Sequence[tuple[str, ChatBackend]],
        settings: Settings | None = None,
        breakers: Sequence[CircuitBreaker] | None = None,
    ) -> ChatChain:
        """A chain over clients built elsewhere (tests; programs embedding ragserve)."""
        chain = cls(settings or Settings(), ExitStack())
        fresh = [
            CircuitBreaker(chain.settings.breaker_failures, chain.settings.breaker_cooldown_s)
            for _ in clients
        ]
        chain._members = [
            ChainMember(BackendSpec(name=name), backend, backend.base_url, breaker)
            for (name, backend), breaker in zip(clients, breakers or fresh, strict=True)
        ]
        return chain

    # -- composition ------------------------------------------------------------------------
    def build(self, spec: BackendSpec) -> ChatSetup:
        """The client for ``spec``, built once; raises ``ConfigError`` if it cannot be."""
        with self._lock:
            key = _key(spec)
            if key not in self._built:
                self._built[key] = build_one(self.settings, spec, self.stack)
            return self._built[key]

    def reload(
        self, specs: Sequence[BackendSpec], skipped: Mapping[str, str] | None = None
    ) -> None:
        """Make ``specs`` the chain (blocking). Every member is built before anything changes;
        members whose spec is unchanged keep their client and their circuit breaker.
        ``skipped`` names entries the caller could not use, with why, for health reports."""
        assert specs, "a chat chain needs at least one backend"
        setups = [self.build(spec) for spec in specs]
        with self._lock:
            breakers = {_key(m.spec): m.breaker for m in self._members}
            self._members = [
                ChainMember(
                    spec,
                    setup.backend,
                    setup.description,
                    breakers.get(_key(spec))
                    or CircuitBreaker(
                        self.settings.breaker_failures, self.settings.breaker_cooldown_s
                    ),
                )
                for spec, setup in zip(specs, setups, strict=True)
            ]
            self._window = None
            self.skipped = dict(skipped or {})
        log.info("chat: %s", self.description)

    @property
    def members(self) -> list[ChainMember]:
        return list(self._members)

    @property
    def specs(self) -> list[BackendSpec]:
        return [m.spec for m in self._members]

    def member(self, name: str) -> ChainMember | None:
        return next((m for m in self._members if m.name == name), None)

    @property
    def description(self) -> str:
        return " → ".join(f"{m.name} ({m.description})" for m in self._members)

    @property
    def base_url(self) -> str:
        return self._members[0].backend.base_url

    def passthrough_target(self) -> PassthroughTarget:
        first = self._members[0]
        return PassthroughTarget(first.backend.base_url, first.spec.api_key)

    def health(self) -> list[dict[str, object]]:
        """Per-member circuit state and counts, for /readyz, /metrics and the Resources list."""
        return [
            {
                "name": m.name,
                "base_url": m.backend.base_url,
                "state": m.breaker.state.value,
                "failures": m.breaker.total_failures,
                "successes": m.breaker.total_successes,
                "last_error": m.breaker.last_error,
            }
            for m in self._members
        ]

    # -- the ChatBackend protocol -----------------------------------------------------------
    def _candidates(self) -> list[ChainMember]:
        members = self._members
        allowed = [m for m in members if m.breaker.allow()]
        # Every circuit open: try the first anyway rather than refuse outright.
        return allowed or members[:1]

    async def model_name(self) -> str:
        for member in self._candidates():
            try:
                return await member.backend.model_name()
            except BackendError as exc:
                member.breaker.failure(str(exc))
        raise BackendUnavailable("no chat backend is reachable")

    async def list_models(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for member in self._members:
            try:
                out += await member.backend.list_models()
            except BackendError:
                continue
        return out

    async def context_window(self) -> int:
        """The smallest window in the chain: a prompt must fit whichever member serves it."""
        if self._window is None:
            windows = []
            for member in self._members:
                try:
                    windows.append(await member.backend.context_window())
                except BackendError:
                    continue
            if not windows:
                raise BackendUnavailable("no chat backend is reachable")
            self._window = min(windows)
        return self._window

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: TokenUsage | None = None,
    ) -> AsyncIterator[str]:
        errors: list[str] = []
        candidates = self._candidates()
        for member in candidates:
            started = time.perf_counter()
            last: float | None = None
            model = member.spec.model
            gen = tracing.generation(member.name, model, member.backend.base_url, messages)
            try:
                async for delta in stream_counting(
                    member.backend,
                    messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    usage=usage,
                ):
                    now = time.perf_counter()
                    if last is None:
                        metrics.CHAT_TTFT.labels(member.name).observe(now - started)
                        gen.first_token()
                    else:
                        metrics.CHAT_ITL.labels(member.name).observe(now - last)
                    last = now
                    gen.add(delta)
                    yield delta
            except BackendError as exc:
                gen.fail(exc)
                member.breaker.failure(str(exc))
                outcome = "failed_after_tokens" if last is not None else "failed"
                metrics.CHAT_E2E.labels(member.name, outcome).observe(time.perf_counter() - started)
                if last is not None or len(self._members) == 1:
                    raise  # tokens already reached the user: report, do not splice
                errors.append(f"{member.name}: {exc}")
                metrics.CHAT_FAILOVERS.labels(member.name).inc()
                log.warning("chat backend %s failed, trying the next: %s", member.name, exc)
                continue
            except BaseException as exc:  # cancelled: its generation span ends all the same
                gen.fail(exc)
                raise
            member.breaker.success()
            metrics.CHAT_E2E.labels(member.name, "ok").observe(time.perf_counter() - started)
            if gen.span is not None:  # the stream asked the model's name: cached by now
                model = model or await member.backend.model_name()
                counted = usage or TokenUsage()
                gen.finish(model, counted.prompt_tokens, counted.completion_tokens)
            return
        raise BackendUnavailable("every chat backend failed: " + "; ".join(errors))

    async def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> str:
        parts = [
            d async for d in self.stream(messages, max_tokens=max_tokens, temperature=temperature)
        ]
        return "".join(parts)

    async def aclose(self) -> None:
        with self._lock:
            backends = [s.backend for s in self._built.values()]
            backends += [m.backend for m in self._members if m.backend not in backends]
        for backend in backends:
            await backend.aclose()
