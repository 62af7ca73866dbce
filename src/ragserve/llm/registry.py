"""Chat backends by kind; the embedded default registers the same way a plugin would."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

from ragserve.config import Settings
from ragserve.embed.packaged import smollm2_gguf
from ragserve.llm.base import ChatBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.llm.openai_compat import ChatTimeouts, OpenAICompatChat


@dataclass(frozen=True, slots=True)
class ChatSetup:
    """A backend plus whatever must stay alive while it is used (the embedded server)."""

    backend: ChatBackend
    description: str


ChatFactory = Callable[[Settings, ExitStack], ChatSetup]
_FACTORIES: dict[str, ChatFactory] = {}


def register_chat_backend(kind: str, factory: ChatFactory) -> None:
    _FACTORIES[kind] = factory


def chat_kind(settings: Settings) -> str:
    return "openai" if settings.llm_base_url else "embedded"


def build_chat(settings: Settings, stack: ExitStack) -> ChatSetup:
    """The chat backend the settings describe; resources are closed with ``stack``."""
    return _FACTORIES[chat_kind(settings)](settings, stack)


def _timeouts(settings: Settings) -> ChatTimeouts:
    return ChatTimeouts(
        connect=settings.llm_connect_timeout_s,
        first_token=settings.llm_first_token_timeout_s,
        between_tokens=settings.llm_token_timeout_s,
        total=settings.llm_total_timeout_s,
    )


def _openai(settings: Settings, stack: ExitStack) -> ChatSetup:
    assert settings.llm_base_url is not None
    backend = OpenAICompatChat(
        settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        context_window=settings.llm_context_window,
        timeouts=_timeouts(settings),
        max_connections=settings.llm_max_connections,
    )
    return ChatSetup(backend, f"OpenAI-compatible server at {settings.llm_base_url}")


def embedded_server(settings: Settings) -> AbstractContextManager[EmbeddedLlamaServer]:
    return EmbeddedLlamaServer(
        settings.embedded_gguf or smollm2_gguf(),
        log_path=settings.data_dir / "logs" / "llama-server.log",
        context=settings.embedded_context,
        threads=settings.embedded_threads,
        startup_timeout_s=settings.embedded_startup_timeout_s,
    )


def _embedded(settings: Settings, stack: ExitStack) -> ChatSetup:
    server = stack.enter_context(embedded_server(settings))
    backend = OpenAICompatChat(
        server.base_url,
        model=EMBEDDED_MODEL_ALIAS,
        context_window=settings.llm_context_window or settings.embedded_context,
        timeouts=_timeouts(settings),
        max_connections=settings.llm_max_connections,
    )
    return ChatSetup(backend, f"embedded llama.cpp ({server.gguf.name}) at {server.base_url}")


register_chat_backend("openai", _openai)
register_chat_backend("embedded", _embedded)
