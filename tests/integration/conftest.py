"""A ragserve server shared by the API tests: real llama.cpp, real embedder, samples loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.runtime import Runtime
from tests.apiserver import running_app, wait_for_documents
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: EmbeddingBackend,
    llama_server: EmbeddedLlamaServer,
) -> Iterator[httpx.Client]:
    """An httpx client on a running server whose `samples` collection is ready."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api") / "data",
        llm_base_url=llama_server.base_url,
        llm_model=EMBEDDED_MODEL_ALIAS,
    )
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=120) as client:
        files = [("files", (p.name, p.read_bytes())) for p in sorted(Path(SAMPLES).iterdir())]
        response = client.post("/api/collections/samples/documents", files=files)
        assert response.status_code == 202, response.text
        docs = wait_for_documents(client, "samples", len(files))
        assert {d["status"] for d in docs} == {"ready"}, docs
        client.headers["x-job-id"] = response.json()["id"]
        yield client
    runtime.close()
