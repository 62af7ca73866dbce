"""Chat with any OpenAI-compatible server: vLLM, Ollama (`/v1`), llama.cpp, OpenAI.

Timeouts are layered so no call can hang: connect, first token, each later token, and the
whole answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ragserve.errors import BackendError, BackendProtocolError, BackendTimeout, ConfigError
from ragserve.llm.base import ChatMessage, TokenUsage
from ragserve.openai_http import auth_headers, check_response, map_transport_error
from ragserve.sse import DONE, parse_sse_line

DEFAULT_CONTEXT_WINDOW = 4096


@dataclass(frozen=True, slots=True)
class ChatTimeouts:
    connect: float = 5.0
    first_token: float = 120.0
    between_tokens: float = 30.0
    total: float = 600.0


class OpenAICompatChat:
    """A chat backend speaking OpenAI's ``/chat/completions`` with streaming."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        timeouts: ChatTimeouts | None = None,
        max_connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or ChatTimeouts()
        self._model = model
        self._context_window = context_window
        t = self.timeouts
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=auth_headers(api_key),
            timeout=httpx.Timeout(max(t.first_token, t.between_tokens), connect=t.connect),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(max_connections, 256),
            ),
        )

    async def list_models(self) -> list[dict[str, Any]]:
        url = f"{self.base_url}/models"
        try:
            response = await self._client.get("/models", timeout=self.timeouts.connect + 10)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, url) from exc
        check_response(response)
        try:
            data = response.json()["data"]
            assert isinstance(data, list)
            return data
        except (ValueError, KeyError, AssertionError) as exc:
            raise BackendProtocolError("`/models` did not answer with a model list", url) from exc

    async def model_name(self) -> str:
        if self._model is None:
            models = await self.list_models()
            ids = [str(m.get("id")) for m in models]
            if len(ids) != 1:
                raise ConfigError(
                    f"{self.base_url} serves {len(ids)} models ({', '.join(ids) or 'none'}); "
                    "set RAGSERVE_LLM_MODEL to one of them"
                )
            self._model = ids[0]
        return self._model

    async def context_window(self) -> int:
        """The configured window, else the server's (vLLM ``max_model_len``), else 4096."""
        if self._context_window is None:
            window = DEFAULT_CONTEXT_WINDOW
            try:
                name = await self.model_name()
                for model in await self.list_models():
                    if model.get("id") == name:
                        for key in ("max_model_len", "context_length", "n_ctx"):
                            if isinstance(model.get(key), int):
                                window = int(model[key])
                                break
            except BackendError:
                pass
            self._context_window = window
        return self._context_window

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: TokenUsage | None = None,
    ) -> AsyncIterator[str]:
        """Yield content deltas as the server streams them; fill ``usage`` if it reports it."""
        url = f"{self.base_url}/chat/completions"
        body = {
            "model": await self.model_name(),
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            # vLLM, OpenAI and Ollama then send a last chunk with the counts; others ignore it.
            "stream_options": {"include_usage": True},
        }
        deadline = time.monotonic() + self.timeouts.total
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if not response.is_success:
                    await response.aread()
                    check_response(response)
                lines = response.aiter_lines()
                first = True
                while True:
                    wait = self.timeouts.first_token if first else self.timeouts.between_tokens
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        raise BackendTimeout(
                            f"answer took longer than {self.timeouts.total:.0f} s in total", url
                        )
                    try:
                        async with asyncio.timeout(wait):  # no extra task per line
                            line = await anext(lines)
                    except StopAsyncIteration:
                        return  # stream ended without [DONE]: treat as end of answer
                    except TimeoutError:
                        which = "first token" if first else "next token"
                        raise BackendTimeout(f"no {which} within {wait:g} s", url) from None
                    event = parse_sse_line(line, url)
                    if event is DONE:
                        return
                    if not isinstance(event, dict):
                        continue
                    if "error" in event:
                        raise BackendError(f"server error mid-stream: {event['error']}", url)
                    if usage is not None and isinstance(event.get("usage"), dict):
                        counts = event["usage"]
                        usage.prompt_tokens = _count(counts.get("prompt_tokens"))
                        usage.completion_tokens = _count(counts.get("completion_tokens"))
                    delta = _delta_text(event)
                    if delta:
                        first = False
                        yield delta
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, url) from exc

    async def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> str:
        parts = [
            d async for d in self.stream(messages, max_tokens=max_tokens, temperature=temperature)
        ]
        return "".join(parts)

    async def aclose(self) -> None:
        await self._client.aclose()


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _delta_text(event: dict[str, Any]) -> str:
    choices = event.get("choices") or []
    if not choices:
        return ""
    choice = choices[0]
    delta = choice.get("delta") or {}
    content = delta.get("content")
    if content is None and "text" in choice:
        content = choice["text"]
    return content if isinstance(content, str) else ""
