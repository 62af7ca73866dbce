from pathlib import Path

import pytest
from pydantic import ValidationError

from ragserve.config import (
    README_END,
    README_START,
    EmbedBackendKind,
    Settings,
    VectorStoreKind,
    configuration_markdown,
    configuration_table,
)

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_docs_are_generated_from_settings() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == configuration_markdown(), "run: python -m ragserve.config"
    readme = (ROOT / "README.md").read_text()
    table = readme.split(README_START)[1].split(README_END)[0]
    assert table == configuration_table(), "run: python -m ragserve.config"


def test_every_setting_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"


def test_environment_switches_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSERVE_LLM_BASE_URL", "http://gpu-box:8000/v1/")
    monkeypatch.setenv("RAGSERVE_EMBED_BASE_URL", "http://gpu-box:8001/v1")
    monkeypatch.setenv("RAGSERVE_EMBED_MODEL", "BAAI/bge-small-en-v1.5")
    monkeypatch.setenv("RAGSERVE_QDRANT_URL", "http://qdrant:6333")
    s = Settings()
    assert s.llm_base_url == "http://gpu-box:8000/v1"
    assert s.resolved_embed_backend is EmbedBackendKind.openai
    assert s.resolved_vector_store is VectorStoreKind.server


def test_defaults_are_embedded_and_offline() -> None:
    s = Settings()
    assert s.llm_base_url is None
    assert s.resolved_embed_backend is EmbedBackendKind.onnx
    assert s.resolved_vector_store is VectorStoreKind.edge
    assert Settings(embed_model="intfloat/e5-small-v2").resolved_embed_backend is (
        EmbedBackendKind.sentence_transformers
    )


def test_invalid_combinations_are_rejected() -> None:
    with pytest.raises(ValidationError, match="chunk_overlap"):
        Settings(chunk_tokens=100, chunk_overlap=60)
    with pytest.raises(ValidationError, match="EMBED_BASE_URL"):
        Settings(embed_backend="openai")
