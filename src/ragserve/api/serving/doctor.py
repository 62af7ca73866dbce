"""``ragserve doctor`` from inside the running server, on the parts it already holds."""

from __future__ import annotations

from ragserve.config import Settings
from ragserve.doctor import check_live_chat, server_checks
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import NotFound
from ragserve.llm.chain import ChatChain
from ragserve.probe import Check
from ragserve.protocol import DoctorCheck, DoctorReport
from ragserve.store.catalog import Catalog


def report(checks: list[Check]) -> DoctorReport:
    return DoctorReport(
        ok=all(c.ok for c in checks), checks=[DoctorCheck(**c.as_dict()) for c in checks]
    )


class DoctorServing:
    def __init__(
        self, settings: Settings, catalog: Catalog, embedder: EmbeddingBackend, chain: ChatChain
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.embedder = embedder
        self.chain = chain

    async def run(self) -> DoctorReport:
        """Every part: the embedder, the collections, each chat backend of the chain."""
        return report(await server_checks(self.settings, self.catalog, self.embedder, self.chain))

    async def check_backend(self, name: str) -> DoctorReport:
        """The doctor's checks for one backend of the chain (the UI's Test button)."""
        member = self.chain.member(name)
        if member is None:
            raise NotFound(f"no backend {name!r} in the chain")
        checks = await check_live_chat(
            self.settings, member.spec, member.backend, f"chat endpoint {name}", "LLM_BACKENDS"
        )
        return report(checks)
