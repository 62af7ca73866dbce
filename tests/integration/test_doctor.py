"""Every `ragserve doctor` diagnosis against the misconfiguration that causes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragserve.config import Settings
from ragserve.doctor import run_checks
from ragserve.embed.base import EmbeddingBackend
from ragserve.probe import Check
from ragserve.runtime import Runtime
from tests.fakes.fault_server import FaultServer, running_fault_server
from tests.integration.helpers import ingest


@pytest.fixture
def fault() -> Iterator[tuple[str, FaultServer]]:
    with running_fault_server() as server:
        yield server


def _doctor(tmp_path: Path, **values: Any) -> dict[str, Check]:
    settings = Settings(data_dir=tmp_path / "data", **values)
    return {c.name: c for c in run_checks(settings)}


def _failed(checks: dict[str, Check], name: str) -> Check:
    check = checks[name]
    assert not check.ok, check
    assert check.fix, check
    return check


def test_refused_port(tmp_path: Path) -> None:
    check = _failed(_doctor(tmp_path, llm_base_url="http://127.0.0.1:9/v1"), "chat endpoint")
    assert "nothing is listening" in check.detail and "RAGSERVE_LLM_BASE_URL" in str(check.fix)


def test_unknown_host(tmp_path: Path) -> None:
    check = _failed(
        _doctor(tmp_path, llm_base_url="http://no-such-host.invalid/v1"), "chat endpoint"
    )
    assert "cannot resolve host 'no-such-host.invalid'" in check.detail


def test_https_to_a_plain_http_server(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    url = fault[0].replace("http://", "https://")
    check = _failed(_doctor(tmp_path, llm_base_url=url), "chat endpoint")
    assert "TLS" in check.detail and "use http://" in str(check.fix)


def test_base_url_missing_v1(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    root = fault[0].removesuffix("/v1")
    check = _failed(_doctor(tmp_path, llm_base_url=root), "chat endpoint")
    assert check.fix == f"the base URL is missing /v1: set RAGSERVE_LLM_BASE_URL={root}/v1"


def test_base_url_doubling_v1(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    check = _failed(_doctor(tmp_path, llm_base_url=fault[0] + "/v1"), "chat endpoint")
    assert "repeats /v1" in str(check.fix) and str(check.fix).endswith(fault[0])


def test_key_required_and_key_rejected(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    url, server = fault
    server.required_key = "s3cret"
    missing = _failed(_doctor(tmp_path, llm_base_url=url), "chat endpoint")
    assert "requires an API key and none is set" in missing.detail
    wrong = _failed(_doctor(tmp_path, llm_base_url=url, llm_api_key="nope"), "chat endpoint")
    assert "rejected the API key" in wrong.detail
    assert _doctor(tmp_path, llm_base_url=url, llm_api_key="s3cret")["chat endpoint"].ok


def test_chat_pointed_at_an_embedding_instance(
    tmp_path: Path, fault: tuple[str, FaultServer]
) -> None:
    url, server = fault
    server.disabled = {"chat"}
    check = _failed(_doctor(tmp_path, llm_base_url=url), "chat endpoint")
    assert "404" in check.detail and "--runner pooling" in str(check.fix)
    assert "vllm serve MODEL" in str(check.fix)


def test_embeddings_pointed_at_a_generation_instance(
    tmp_path: Path, fault: tuple[str, FaultServer]
) -> None:
    url, server = fault
    server.disabled = {"embeddings"}
    checks = _doctor(tmp_path, embed_base_url=url, embed_model="ok", llm_base_url=url)
    check = _failed(checks, "embedding endpoint")
    assert "--runner pooling" in str(check.fix) and "--task embed" in str(check.fix)


def test_model_not_served_lists_the_served_ones(
    tmp_path: Path, fault: tuple[str, FaultServer]
) -> None:
    url, server = fault
    server.served = ["qwen2.5-7b", "llama-3.1-8b"]
    check = _failed(_doctor(tmp_path, llm_base_url=url, llm_model="gpt-4o"), "chat endpoint")
    assert "'gpt-4o' is not served" in check.detail
    assert "qwen2.5-7b, llama-3.1-8b" in check.detail and "RAGSERVE_LLM_MODEL" in str(check.fix)
    several = _failed(_doctor(tmp_path, llm_base_url=url), "chat endpoint")
    assert "serves 2 models" in several.detail


def test_embedding_dimension_differs_from_the_collection(
    tmp_path: Path, fault: tuple[str, FaultServer], embedder: EmbeddingBackend
) -> None:
    samples = tmp_path / "docs"
    samples.mkdir()
    (samples / "a.md").write_text("# A\n\nThe canteen opens at seven.")
    with Runtime(Settings(data_dir=tmp_path / "data"), embedder=embedder) as runtime:
        ingest(runtime, [samples], "team")
    url, _ = fault  # the scripted server's vectors have 3 dimensions
    checks = _doctor(tmp_path, embed_base_url=url, embed_model="ok", llm_base_url=url)
    assert checks["embedding endpoint"].ok and "3 dimensions" in checks["embedding endpoint"].detail
    check = _failed(checks, "collection team")
    assert "(384 dimensions)" in check.detail and "(3)" in check.detail


def test_context_window_smaller_than_the_prompt_budget(
    tmp_path: Path, fault: tuple[str, FaultServer]
) -> None:
    checks = _doctor(tmp_path, llm_base_url=fault[0], top_k=20)  # the server reports 2,048
    check = _failed(checks, "chat endpoint context")
    assert "2048 tokens is smaller than the prompt budget" in check.detail
    assert "--max-model-len" in str(check.fix)
    assert _doctor(tmp_path, llm_base_url=fault[0])["chat endpoint context"].ok


def test_ollama_context_comes_from_num_ctx(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    chain = [{"name": "ollama", "kind": "ollama", "base_url": fault[0], "model": "ok"}]
    fine = _doctor(tmp_path, llm_backends=chain)
    assert (
        fine["chat endpoint context"].ok and "2048 tokens" in fine["chat endpoint context"].detail
    )
    check = _failed(_doctor(tmp_path, llm_backends=chain, top_k=8), "chat endpoint context")
    assert "OLLAMA_CONTEXT_LENGTH" in str(check.fix)


def test_server_slower_than_the_timeouts(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    url, server = fault
    server.served = ["paced-2-800"]  # first token after 0.8 s
    close = _failed(_doctor(tmp_path, llm_base_url=url, llm_first_token_timeout_s=1.2),
                    "chat endpoint")  # fmt: skip
    assert "over half the first-token timeout" in close.detail
    over = _failed(_doctor(tmp_path, llm_base_url=url, llm_first_token_timeout_s=0.3),
                   "chat endpoint")  # fmt: skip
    assert "no first token within" in over.detail
    assert "RAGSERVE_LLM_FIRST_TOKEN_TIMEOUT_S" in str(over.fix)


def test_each_backend_of_a_chain_is_checked(tmp_path: Path, fault: tuple[str, FaultServer]) -> None:
    chain = [
        {"name": "vllm", "base_url": "http://127.0.0.1:9/v1"},
        {"name": "backup", "base_url": fault[0], "model": "ok"},
    ]
    checks = _doctor(tmp_path, llm_backends=chain)
    assert not checks["chat endpoint vllm"].ok
    assert "RAGSERVE_LLM_BACKENDS" in str(checks["chat endpoint vllm"].fix)
    assert checks["chat endpoint backup"].ok and checks["chat endpoint backup context"].ok
