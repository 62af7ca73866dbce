"""The chat backend interface."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(slots=True)
class TokenUsage:
    """Token counts of one answer, filled in by a backend whose server reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatBackend(Protocol):
    """Streams chat completions; every failure is a ``BackendError``.

    ``stream`` may also take ``usage=TokenUsage()`` (keyword) and fill it from the server's
    own counts; callers pass it only to backends whose ``stream`` declares it, so a plugin
    without it keeps working.
    """

    @property
    def base_url(self) -> str: ...

    async def model_name(self) -> str: ...

    async def list_models(self) -> list[dict[str, Any]]:
        """The server's model list: also the cheapest proof that it is reachable."""
        ...

    async def context_window(self) -> int: ...

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]: ...

    async def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> str: ...

    async def aclose(self) -> None: ...


@functools.cache
def _stream_takes_usage(cls: type) -> bool:
    return "usage" in inspect.signature(getattr(cls, "stream")).parameters  # noqa: B009


def stream_counting(
    backend: ChatBackend,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int,
    temperature: float,
    usage: TokenUsage | None,
) -> AsyncIterator[str]:
    """``backend.stream``, handing it ``usage`` to fill when its ``stream`` takes one."""
    if usage is not None and _stream_takes_usage(type(backend)):
        stream: AsyncIterator[str] = backend.stream(  # type: ignore[call-arg]
            messages, max_tokens=max_tokens, temperature=temperature, usage=usage
        )
        return stream
    return backend.stream(messages, max_tokens=max_tokens, temperature=temperature)
