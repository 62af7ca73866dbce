"""The embedded Edge store and qdrant-client's local mode behave the same."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragserve.store.edge import EdgeVectorStore
from ragserve.store.payload import ChunkPayload
from ragserve.store.qdrant import QdrantClientStore
from ragserve.store.vectors import ChunkPoint, VectorStore, document_id, point_id


@pytest.fixture(params=["edge", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    s: VectorStore
    if request.param == "edge":
        s = EdgeVectorStore(tmp_path / "edge")
    else:
        s = QdrantClientStore(path=tmp_path / "local")
    yield s
    s.close()


def _points(doc: str, n: int, rng: np.random.Generator) -> list[ChunkPoint]:
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    return [
        ChunkPoint(point_id(doc, i), vectors[i].tolist(), ChunkPayload(doc, i)) for i in range(n)
    ]


def test_upsert_search_and_delete_stale_chunks(store: VectorStore) -> None:
    rng = np.random.default_rng(0)
    store.create("c", 8)
    assert store.exists("c")
    a, b = document_id("c", "/a"), document_id("c", "/b")
    store.upsert("c", _points(a, 5, rng) + _points(b, 3, rng))
    assert store.count("c") == 8 and store.count("c", a) == 5
    store.upsert("c", _points(a, 2, rng))  # same ids overwrite, no duplicates
    store.delete_document("c", a, from_index=2)
    assert store.count("c", a) == 2 and store.count("c") == 5
    probe = _points(b, 1, rng)[0]
    store.upsert("c", [probe])
    hits = store.search("c", probe.vector, 3)
    assert hits[0].id == probe.id and hits[0].score == pytest.approx(1.0, abs=1e-4)
    store.optimize("c")
    store.drop("c")
    assert not store.exists("c")


def test_ids_are_deterministic() -> None:
    assert document_id("c", "/x") == document_id("c", "/x") != document_id("d", "/x")
    assert point_id("doc", 1) == point_id("doc", 1) != point_id("doc", 2)
