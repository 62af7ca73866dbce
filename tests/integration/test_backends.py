"""Chat and embedding backends against a real llama.cpp server and the fault server."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragserve.config import Settings
from ragserve.embed.base import HFTokenizer
from ragserve.embed.packaged import minilm_folder
from ragserve.embed.registry import build_embedder
from ragserve.embed.remote import RemoteEmbedder
from ragserve.errors import (
    BackendAuthError,
    BackendNotFound,
    BackendProtocolError,
    BackendTimeout,
    BackendUnavailable,
)
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.llm.openai_compat import ChatTimeouts, OpenAICompatChat
from ragserve.openai_http import PLACEHOLDER_KEY
from ragserve.runtime import Runtime
from tests.conftest import SAMPLES
from tests.fakes.fault_server import FaultServer, running_fault_server
from tests.integration.helpers import ingest

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def fault() -> Iterator[tuple[str, FaultServer]]:
    with running_fault_server() as server:
        yield server


def _tokenizer() -> HFTokenizer:
    return HFTokenizer.from_file(minilm_folder() / "tokenizer.json")


async def test_llama_server_streams_through_the_openai_backend(
    llama_server: EmbeddedLlamaServer,
) -> None:
    chat = OpenAICompatChat(llama_server.base_url)  # model discovered from /models
    try:
        assert await chat.model_name() == EMBEDDED_MODEL_ALIAS
        deltas = [d async for d in chat.stream(
            [{"role": "user", "content": "Count from one to five."}], max_tokens=24,
            temperature=0.0,
        )]  # fmt: skip
        assert len(deltas) > 3
        assert "".join(deltas).strip()
    finally:
        await chat.aclose()


def test_remote_embedder_against_llama_server(llama_server: EmbeddedLlamaServer) -> None:
    embedder = RemoteEmbedder(llama_server.base_url, EMBEDDED_MODEL_ALIAS, _tokenizer())
    try:
        vectors = embedder.embed_passages(["first text", "a second, longer text here"])
        assert vectors.shape == (2, embedder.dimension) and embedder.dimension == 576
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        again = embedder.embed_passages(["a second, longer text here"])
        assert np.allclose(again[0], vectors[1], atol=1e-4)
    finally:
        embedder.close()


def test_ingest_through_a_remote_embedding_server_by_settings_alone(
    llama_server: EmbeddedLlamaServer, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        embed_base_url=llama_server.base_url,
        embed_model=EMBEDDED_MODEL_ALIAS,
    )
    with Runtime(settings) as runtime:
        assert isinstance(runtime.embedder, RemoteEmbedder)
        report = ingest(runtime, [SAMPLES / "it-faq.txt"], "remote")
        assert report.count("ingested") == 1
        ((row, _),) = runtime.catalog.list_collections()
        assert row.dimension == 576 and row.embed_model == EMBEDDED_MODEL_ALIAS


async def test_empty_api_key_sends_a_placeholder(fault: tuple[str, FaultServer]) -> None:
    url, server = fault
    chat = OpenAICompatChat(url, model="ok", api_key="")
    try:
        text = await chat.complete([{"role": "user", "content": "hi"}], max_tokens=8, temperature=0)
    finally:
        await chat.aclose()
    assert text == "Hello from the fault server."
    assert server.headers[-1]["authorization"] == f"Bearer {PLACEHOLDER_KEY}"


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("stall-first", BackendTimeout, "no first token"),
        ("stall-mid", BackendTimeout, "no next token"),
        ("malformed", BackendProtocolError, "malformed SSE"),
        ("http-401", BackendAuthError, "rejected the API key"),
        ("http-503", BackendUnavailable, "HTTP 503"),
        ("cut", BackendUnavailable, "RemoteProtocolError|incomplete"),
    ],
)
async def test_chat_failures_become_clear_errors_instead_of_hangs(
    fault: tuple[str, FaultServer], model: str, error: type[Exception], message: str
) -> None:
    url, _ = fault
    timeouts = ChatTimeouts(connect=2, first_token=0.5, between_tokens=0.5, total=5)
    chat = OpenAICompatChat(url, model=model, timeouts=timeouts)
    try:
        with pytest.raises(error, match=message):
            await chat.complete([{"role": "user", "content": "hi"}], max_tokens=8, temperature=0)
    finally:
        await chat.aclose()


async def test_unreachable_server_is_unavailable() -> None:
    chat = OpenAICompatChat("http://127.0.0.1:9/v1", model="x")
    try:
        with pytest.raises(BackendUnavailable, match="cannot connect"):
            await chat.complete([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0)
    finally:
        await chat.aclose()


async def test_context_window_comes_from_the_server(fault: tuple[str, FaultServer]) -> None:
    url, _ = fault
    chat = OpenAICompatChat(url, model="ok")
    try:
        assert await chat.context_window() == 2048
    finally:
        await chat.aclose()


def test_remote_embedder_retries_transient_failures_in_order(
    fault: tuple[str, FaultServer],
) -> None:
    url, server = fault
    embedder = RemoteEmbedder(url, "flaky-2", _tokenizer(), retries=3)
    try:
        vectors = embedder.embed_passages(["a", "b", "c"])
    finally:
        embedder.close()
    assert server.calls["flaky-2"] == 3
    # The server answers in reverse order; vectors must still line up with inputs.
    expected = np.array([[i + 1, 1, 0] for i in range(3)], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected)


def test_remote_embedder_404_is_not_retried(fault: tuple[str, FaultServer]) -> None:
    url, server = fault
    embedder = RemoteEmbedder(url, "http-404", _tokenizer(), retries=3)
    try:
        with pytest.raises(BackendNotFound, match="404"):
            embedder.embed_passages(["a"])
    finally:
        embedder.close()
    assert server.calls["http-404"] == 1


def test_embed_backend_is_chosen_by_settings(tmp_path: Path) -> None:
    remote = build_embedder(Settings(embed_base_url="http://127.0.0.1:9/v1", embed_model="m"))
    assert isinstance(remote, RemoteEmbedder)
    remote.close()


def test_supervisor_restarts_a_killed_server_on_the_same_url(tmp_path: Path) -> None:
    from ragserve.embed.packaged import smollm2_gguf

    server = EmbeddedLlamaServer(smollm2_gguf(), log_path=tmp_path / "log", context=1024)
    with server:
        url = server.base_url
        process = server._process
        assert process is not None
        process.kill()
        import time

        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=1).is_success and server.restarts:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert server.restarts == 1
        assert server.base_url == url
        assert httpx.get(f"{url}/models", timeout=2).is_success


def test_remote_embedder_moves_to_a_replica_of_the_same_model(
    fault: tuple[str, FaultServer],
) -> None:
    url, server = fault
    before = server.calls["ok"]
    embedder = RemoteEmbedder(
        "http://127.0.0.1:9/v1", "ok", _tokenizer(), replicas=[url], retries=0
    )
    try:
        for _ in range(5):
            assert embedder.embed_passages(["a", "b"]).shape == (2, 3)
    finally:
        embedder.close()
    assert server.calls["ok"] - before == 5
    # After three failures the dead replica's circuit is open: it is no longer tried first.
    assert embedder._breakers["http://127.0.0.1:9/v1"].total_failures == 3
