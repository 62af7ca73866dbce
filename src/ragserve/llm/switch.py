"""The live chat backend of a server, rebuilt when its backends change at run time.

Backends come from two places, in fallback order: the Resources store (added through the
API, kept in SQL) and then the settings (`RAGSERVE_LLM_*` or `RAGSERVE_LLM_BACKENDS`, which
by default is the embedded server: the last resort). Backends that did not change are
reused, so a running embedded server is not restarted.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack

from ragserve.config import BackendSpec, Settings
from ragserve.llm.base import ChatBackend
from ragserve.llm.chain import chained
from ragserve.llm.kinds import ChatSetup, build_one


class ChatSwitch:
    def __init__(self, settings: Settings, stack: ExitStack) -> None:
        self.settings = settings
        self.stack = stack
        self._built: dict[str, ChatSetup] = {}
        self._lock = threading.Lock()
        self.specs: list[BackendSpec] = []

    def build(self, specs: list[BackendSpec]) -> ChatBackend:
        """The backend for ``specs`` (a FallbackChat if more than one); blocking."""
        with self._lock:
            setups = []
            for spec in specs:
                key = spec.model_dump_json()
                if key not in self._built:
                    self._built[key] = build_one(self.settings, spec, self.stack)
                setups.append(self._built[key])
            self.specs = list(specs)
        return chained(self.settings, specs, setups).backend

    def backend_for(self, spec: BackendSpec) -> ChatBackend:
        with self._lock:
            key = spec.model_dump_json()
            if key not in self._built:
                self._built[key] = build_one(self.settings, spec, self.stack)
            return self._built[key].backend

    async def aclose(self) -> None:
        for setup in self._built.values():
            await setup.backend.aclose()
