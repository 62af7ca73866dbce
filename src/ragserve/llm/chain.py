"""Chat backends in fallback order (being reshaped into one ChatChain object)."""

from __future__ import annotations

from contextlib import ExitStack

from ragserve.breaker import CircuitBreaker
from ragserve.config import BackendSpec, Settings
from ragserve.llm.fallback import ChainMember, FallbackChat
from ragserve.llm.kinds import ChatSetup, build_one
from ragserve.store.metadata import MetadataStore


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


