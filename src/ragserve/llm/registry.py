"""Chat backends by kind; the built-in kinds register the same way a plugin would.

``RAGSERVE_LLM_BACKENDS`` lists backends in fallback order; each entry's ``kind`` picks the
factory registered under that name. More than one entry builds a ``FallbackChat``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

from ragserve.breaker import CircuitBreaker
from ragserve.config import BackendSpec, Settings
from ragserve.embed.packaged import smollm2_gguf
from ragserve.errors import ConfigError
from ragserve.llm.base import ChatBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.llm.fallback import ChainMember, FallbackChat
from ragserve.llm.ollama import OllamaChat
from ragserve.llm.openai_compat import ChatTimeouts, OpenAICompatChat
from ragserve.store.metadata import MetadataStore


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
    return sorted(_FACTORIES)


def build_one(settings: Settings, spec: BackendSpec, stack: ExitStack) -> ChatSetup:
    factory = _FACTORIES.get(spec.kind)
    if factory is None:
        raise ConfigError(
            f"unknown chat backend kind {spec.kind!r}; known: {', '.join(chat_kinds())}"
        )
    return factory(settings, spec, stack)


def chat_specs(settings: Settings, metadata: MetadataStore | None = None) -> list[BackendSpec]:
    """The fallback order: backends added to the Resources store, then the settings' chain
    (by default the embedded server: the last resort)."""
    stored = []
    if metadata is not None:
        for row in metadata.list_backends():
            fields = {k: v for k, v in row.spec.items() if k != "name"}
            stored.append(BackendSpec(name=row.name, **fields))
    return stored + settings.chat_chain


def build_chat(
    settings: Settings, stack: ExitStack, metadata: MetadataStore | None = None
) -> ChatSetup:
    """The chat backend (or fallback chain) the settings and the Resources store describe;
    resources are closed with ``stack``."""
    specs = chat_specs(settings, metadata)
    return chained(settings, specs, [build_one(settings, spec, stack) for spec in specs])


def chained(settings: Settings, specs: list[BackendSpec], setups: list[ChatSetup]) -> ChatSetup:
    """The one backend, or a FallbackChat over several with a fresh breaker each."""
    if len(setups) == 1:
        return setups[0]
    members = [
        ChainMember(
            spec.label,
            setup.backend,
            CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s),
        )
        for spec, setup in zip(specs, setups, strict=True)
    ]
    chain = " → ".join(f"{m.name} ({s.description})" for m, s in zip(members, setups, strict=True))
    return ChatSetup(FallbackChat(members), f"fallback chain: {chain}")


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
            raise ConfigError(f"chat backend {spec.label!r} needs a base_url ({example})")
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


register_chat_backend(
    "openai", _remote(OpenAICompatChat, "OpenAI-compatible server", "http://HOST:8000/v1")
)
register_chat_backend("ollama", _remote(OllamaChat, "Ollama", "http://HOST:11434/v1"))
register_chat_backend("embedded", _embedded)
