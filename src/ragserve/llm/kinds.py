"""Chat backends by kind.

Each entry of ``RAGSERVE_LLM_BACKENDS`` (or of the Resources store) names a ``kind``; the
factory registered under that name builds its client. ``llm/chain.py`` puts them in order.
The built-in kinds register through the ``ragserve`` entry point ``chat-backends``
(:func:`register_builtin_chat_backends`), the same way a plugin's kinds do (see
``ragserve.plugins``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

from ragserve.config import BackendSpec, Settings
from ragserve.embed.packaged import smollm2_gguf
from ragserve.errors import BackendSpecError
from ragserve.llm.base import ChatBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.llm.ollama import OllamaChat
from ragserve.llm.openai_compat import ChatTimeouts, OpenAICompatChat
from ragserve.plugins import load_plugins


@dataclass(frozen=True, slots=True)
class ChatSetup:
    """A backend plus a description of what serves it."""

    backend: ChatBackend
    description: str


ChatFactory = Callable[[Settings, BackendSpec, ExitStack], ChatSetup]
_FACTORIES: dict[str, ChatFactory] = {}


def register_chat_backend(kind: str, factory: ChatFactory) -> None:
    """Make ``kind`` usable in RAGSERVE_LLM_BACKENDS; resources go on the ExitStack."""
    _FACTORIES[kind] = factory


def chat_kinds() -> list[str]:
    load_plugins()
    return sorted(_FACTORIES)


def build_one(settings: Settings, spec: BackendSpec, stack: ExitStack) -> ChatSetup:
    load_plugins()
    factory = _FACTORIES.get(spec.kind)
    if factory is None:
        raise BackendSpecError(
            f"unknown chat backend kind {spec.kind!r}; known: {', '.join(chat_kinds())}",
            "kind",
        )
    return factory(settings, spec, stack)


def timeouts(settings: Settings, spec: BackendSpec | None = None) -> ChatTimeouts:
    """The backend's own timeouts where it sets them, else the global ones."""

    def pick(own: float | None, default: float) -> float:
        return own if own is not None else default

    spec = spec or BackendSpec()
    return ChatTimeouts(
        connect=pick(spec.connect_timeout_s, settings.llm_connect_timeout_s),
        first_token=pick(spec.first_token_timeout_s, settings.llm_first_token_timeout_s),
        between_tokens=pick(spec.token_timeout_s, settings.llm_token_timeout_s),
        total=pick(spec.total_timeout_s, settings.llm_total_timeout_s),
    )


def _remote(cls: type[OpenAICompatChat], what: str, example: str) -> ChatFactory:
    """A factory for a backend reached over HTTP at the spec's base_url."""

    def factory(settings: Settings, spec: BackendSpec, stack: ExitStack) -> ChatSetup:
        if not spec.base_url:
            raise BackendSpecError(
                f"chat backend {spec.label!r} needs a base_url ({example})", "base_url"
            )
        backend = cls(
            spec.base_url,
            model=spec.model,
            api_key=spec.api_key,
            context_window=spec.context_window,
            timeouts=timeouts(settings, spec),
            max_connections=settings.llm_max_connections,
        )
        return ChatSetup(backend, f"{what} at {spec.base_url}")

    return factory


def embedded_server(settings: Settings) -> AbstractContextManager[EmbeddedLlamaServer]:
    return EmbeddedLlamaServer(
        settings.embedded_gguf or smollm2_gguf(),
        log_path=settings.data_dir / "logs" / "llama-server.log",
        context=settings.embedded_context,
        threads=settings.embedded_threads,
        startup_timeout_s=settings.embedded_startup_timeout_s,
    )


def _embedded(settings: Settings, spec: BackendSpec, stack: ExitStack) -> ChatSetup:
    server = stack.enter_context(embedded_server(settings))
    backend = OpenAICompatChat(
        server.base_url,
        model=EMBEDDED_MODEL_ALIAS,
        context_window=spec.context_window
        or settings.llm_context_window
        or settings.embedded_context,
        timeouts=timeouts(settings, spec),
        max_connections=settings.llm_max_connections,
    )
    return ChatSetup(backend, f"embedded llama.cpp ({server.gguf.name}) at {server.base_url}")


def register_builtin_chat_backends() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_chat_backend(
        "openai", _remote(OpenAICompatChat, "OpenAI-compatible server", "http://HOST:8000/v1")
    )
    register_chat_backend("ollama", _remote(OllamaChat, "Ollama", "http://HOST:11434/v1"))
    register_chat_backend("embedded", _embedded)
