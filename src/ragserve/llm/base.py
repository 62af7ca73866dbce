"""The chat backend interface."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol, TypedDict


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatBackend(Protocol):
    """Streams chat completions; every failure is a ``BackendError``."""

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
