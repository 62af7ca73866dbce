"""An ordered fallback chain of chat backends (e.g. vLLM → Ollama → embedded).

A request goes to the first backend whose circuit is closed. Connect errors, 5xx, auth and
404 errors and first-token timeouts move it to the next backend — nothing has reached the
user yet. Once a token has been streamed, a failure ends the stream with the error: a
half-written answer is never silently continued by another model.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragserve.breaker import CircuitBreaker
from ragserve.errors import BackendError, BackendUnavailable
from ragserve.llm.base import ChatBackend, ChatMessage

log = logging.getLogger(__name__)


@dataclass
class ChainMember:
    name: str
    backend: ChatBackend
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


class FallbackChat:
    """A ``ChatBackend`` over ordered members; it reports as the member that served."""

    def __init__(self, members: Sequence[ChainMember]) -> None:
        assert members, "a fallback chain needs at least one backend"
        self.members = list(members)
        self.base_url = self.members[0].backend.base_url
        self._window: int | None = None

    def _candidates(self) -> list[ChainMember]:
        allowed = [m for m in self.members if m.breaker.allow()]
        # Every circuit open: try the first anyway rather than refuse outright.
        return allowed or self.members[:1]

    async def model_name(self) -> str:
        for member in self._candidates():
            try:
                return await member.backend.model_name()
            except BackendError as exc:
                member.breaker.failure(str(exc))
        raise BackendUnavailable("no chat backend is reachable")

    async def list_models(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for member in self.members:
            try:
                out += await member.backend.list_models()
            except BackendError:
                continue
        return out

    async def context_window(self) -> int:
        """The smallest window in the chain: a prompt must fit whichever member serves it."""
        if self._window is None:
            windows = []
            for member in self.members:
                try:
                    windows.append(await member.backend.context_window())
                except BackendError:
                    continue
            if not windows:
                raise BackendUnavailable("no chat backend is reachable")
            self._window = min(windows)
        return self._window

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        errors: list[str] = []
        for member in self._candidates():
            started = False
            try:
                async for delta in member.backend.stream(
                    messages, max_tokens=max_tokens, temperature=temperature
                ):
                    started = True
                    yield delta
            except BackendError as exc:
                member.breaker.failure(str(exc))
                if started:
                    raise  # tokens already reached the user: report, do not splice
                errors.append(f"{member.name}: {exc}")
                log.warning("chat backend %s failed, trying the next: %s", member.name, exc)
                continue
            member.breaker.success()
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
        for member in self.members:
            await member.backend.aclose()

    def health(self) -> list[dict[str, object]]:
        """Per-member breaker state, for /readyz and /metrics."""
        return [
            {
                "name": m.name,
                "base_url": m.backend.base_url,
                "state": m.breaker.state.value,
                "failures": m.breaker.total_failures,
                "successes": m.breaker.total_successes,
                "last_error": m.breaker.last_error,
            }
            for m in self.members
        ]
