"""Plugins: every entry point of the ``ragserve`` group, loaded once per process.

An entry point names a zero-argument ``register()`` callable (``package.module:register``)
or a module whose import registers. Either way it adds to the three registries through their
public calls: ``register_loader`` (``ingest/loaders``), ``register_embedder``
(``embed/registry``) and ``register_chat_backend`` (``llm/kinds``). ragserve's own loaders,
embedders and chat kinds are declared in its ``pyproject.toml`` and load through this same
path, first; other distributions follow in name order, so a plugin that registers an existing
kind replaces the built-in one.

The registries call :func:`load_plugins` before they are read, and the parse child calls it
when it starts, so every process sees the same loaders. A plugin that fails to load is logged
with its name and skipped; it never stops ragserve from starting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

log = logging.getLogger(__name__)

GROUP = "ragserve"

# The same list as [project.entry-points.ragserve] in pyproject.toml (a test keeps them equal).
# Used only where ragserve's installed metadata lacks it: a source checkout on PYTHONPATH, or an
# install made before the entry points existed.
BUILTIN_ENTRY_POINTS: tuple[tuple[str, str], ...] = (
    ("pdf", "ragserve.ingest.loaders.pdf:register"),
    ("docx", "ragserve.ingest.loaders.docx:register"),
    ("html", "ragserve.ingest.loaders.html:register"),
    ("markdown", "ragserve.ingest.loaders.markdown:register"),
    ("text", "ragserve.ingest.loaders.text:register"),
    ("embedders", "ragserve.embed.registry:register_builtin_embedders"),
    ("chat-backends", "ragserve.llm.kinds:register_builtin_chat_backends"),
)


@dataclass(frozen=True, slots=True)
class Plugin:
    """One entry point and what became of it."""

    name: str
    value: str
    distribution: str | None
    error: str | None = None  # why it failed to load; None when it loaded


class PluginLoader:
    """Loads the entry points of one group once; the process-wide one is :func:`load_plugins`.

    ``first`` is the distribution whose entry points load before all others (ragserve itself);
    ``fallback`` stands in for them when its installed metadata has none.
    """

    def __init__(
        self,
        group: str,
        *,
        first: str | None = None,
        fallback: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.group = group
        self._first = first
        self._fallback = tuple(fallback)
        self._lock = threading.RLock()
        self._plugins: list[Plugin] = []
        self._done = False
        self._loading = False

    def load(self) -> list[Plugin]:
        """Load every plugin on the first call (thread-safe); later calls return the list."""
        if self._done:
            return list(self._plugins)
        with self._lock:
            # _loading: a plugin's register() read a registry; it sees what is loaded so far.
            if self._done or self._loading:
                return list(self._plugins)
            self._loading = True
            try:
                for entry_point in self._entry_points():
                    self._plugins.append(_load(entry_point))
                self._done = True
            finally:
                self._loading = False
        return list(self._plugins)

    def _entry_points(self) -> list[EntryPoint]:
        found = list(entry_points(group=self.group))
        first = [ep for ep in found if _distribution(ep) == self._first]
        others = sorted(
            (ep for ep in found if _distribution(ep) != self._first),
            key=lambda ep: (_distribution(ep) or "", ep.name),
        )
        if not first and self._fallback:
            log.warning(
                "%s's installed metadata declares no %r entry points (run from a source "
                "checkout, or installed before they existed; `pip install -e .` refreshes "
                "it); loading its built-ins from the list in ragserve.plugins",
                self._first,
                self.group,
            )
            first = [EntryPoint(name, value, self.group) for name, value in self._fallback]
        # By name, as installed metadata lists them, so both sources load in the same order.
        return sorted(first, key=lambda ep: ep.name) + others


def _distribution(entry_point: EntryPoint) -> str | None:
    dist = entry_point.dist
    return None if dist is None else dist.name


def _load(entry_point: EntryPoint) -> Plugin:
    dist = _distribution(entry_point)
    try:
        target = entry_point.load()
        if callable(target):
            target()
    except Exception as exc:  # a broken plugin must not stop ragserve from starting
        reason = f"{type(exc).__name__}: {exc}"
        log.warning(
            "plugin %r (%s%s) failed to load and is skipped: %s",
            entry_point.name,
            entry_point.value,
            f", from {dist}" if dist else "",
            reason,
        )
        log.debug("plugin %r traceback", entry_point.name, exc_info=True)
        return Plugin(entry_point.name, entry_point.value, dist, reason)
    return Plugin(entry_point.name, entry_point.value, dist)


_PROCESS_PLUGINS = PluginLoader(GROUP, first="ragserve", fallback=BUILTIN_ENTRY_POINTS)


def load_plugins() -> list[Plugin]:
    """Load ragserve's plugins, built-ins first, once per process; returns what loaded."""
    return _PROCESS_PLUGINS.load()
