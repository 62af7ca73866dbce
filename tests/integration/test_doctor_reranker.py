"""`ragserve doctor` checks a configured remote reranker with one real scoring request.

The reranker is the scripted fault server: no cross-encoder server ships with its weights
on PyPI, so a real one cannot run in the tests (see test_rerank.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragserve.config import RerankApi, RerankKind, Settings
from ragserve.doctor import check_reranker
from ragserve.probe import Check
from tests.fakes.fault_server import FaultServer, running_fault_server


@pytest.fixture(scope="module")
def fault() -> Iterator[tuple[str, FaultServer]]:
    with running_fault_server() as server:
        yield server


def _check(tmp_path: Path, url: str, api: RerankApi = RerankApi.cohere) -> list[Check]:
    settings = Settings(data_dir=tmp_path, rerank=RerankKind.remote, rerank_url=url, rerank_api=api)
    return asyncio.run(check_reranker(settings))


@pytest.mark.parametrize("api", [RerankApi.cohere, RerankApi.tei, RerankApi.score])
def test_a_working_reranker_passes(
    tmp_path: Path, fault: tuple[str, FaultServer], api: RerankApi
) -> None:
    url = fault[0].removesuffix("/v1")
    (check,) = _check(tmp_path, url, api)
    assert check.ok and check.name == "reranker", check
    assert f"RAGSERVE_RERANK_API={api.value}" in check.detail


def test_a_reranker_that_is_down_names_the_setting(tmp_path: Path) -> None:
    (check,) = _check(tmp_path, "http://127.0.0.1:9")
    assert not check.ok
    assert "127.0.0.1:9/v1/rerank" in check.detail
    assert "RAGSERVE_RERANK_URL" in check.fix


def test_no_remote_reranker_no_check(tmp_path: Path) -> None:
    assert asyncio.run(check_reranker(Settings(data_dir=tmp_path))) == []
