"""Shared fixtures: real embedder, real llama.cpp server, embedded Qdrant in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
# Tests must not pick up a developer's own configuration.
for key in [k for k in os.environ if k.startswith("RAGSERVE_")]:
    del os.environ[key]

from ragserve.config import Settings  # noqa: E402
from ragserve.embed.base import EmbeddingBackend  # noqa: E402
from ragserve.embed.packaged import smollm2_gguf  # noqa: E402
from ragserve.embed.registry import build_embedder  # noqa: E402
from ragserve.llm.embedded import EmbeddedLlamaServer  # noqa: E402
from ragserve.runtime import Runtime  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def embedder() -> EmbeddingBackend:
    """The packaged default embedder, loaded once."""
    return build_embedder(Settings())


@pytest.fixture
def runtime(settings: Settings, embedder: EmbeddingBackend) -> Iterator[Runtime]:
    """A runtime on a fresh data dir, sharing the session's embedder."""
    rt = Runtime(settings, embedder=embedder)
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLlamaServer]:
    """A real llama.cpp server running the packaged SmolLM2 GGUF (chat and embeddings)."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = EmbeddedLlamaServer(smollm2_gguf(), log_path=log, context=4096, embedding=True)
    server.start()
    yield server
    server.stop()
