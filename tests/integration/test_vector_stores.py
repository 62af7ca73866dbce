"""The embedded Edge store and qdrant-client's local mode behave the same (local mode is
also the test of the Qdrant server path: the same QdrantClientStore code, no server here)."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragserve.embed.sparse import passage_vector, query_vector
from ragserve.store.edge import EdgeVectorStore
from ragserve.store.payload import ChunkPayload
from ragserve.store.qdrant import QdrantClientStore
from ragserve.store.vectors import ChunkPoint, SearchHit, VectorStore, document_id, point_id


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


def test_sparse_and_hybrid_search_fuse_inside_the_store(store: VectorStore) -> None:
    """Keyword search finds the exact code; hybrid (prefetch + RRF in the store) brings the
    dense match and the keyword match together; filters apply to both sides."""
    texts = {
        "/codes": "Error XK-4471 means the lock file is stale: delete it and retry.",
        "/other-codes": "Error XK-4417 means the disk is full. Error XK-7144: token expired.",
        "/refunds": "Customers get their money back within 30 days of purchase.",
        "/ko": "환불은 구매 후 30일 이내에 요청할 수 있습니다.",
    }
    rng = np.random.default_rng(1)
    store.create("h", 8, sparse=True)
    points = {
        source: ChunkPoint(
            point_id(document_id("h", source), 0),
            rng.normal(size=8).astype(np.float32).tolist(),
            ChunkPayload(document_id("h", source), 0, source=source, text=text),
            passage_vector(text),
        )
        for source, text in texts.items()
    }
    store.upsert("h", list(points.values()))
    dense = list(points["/refunds"].vector)

    def sources(hits: list[SearchHit]) -> list[str]:
        return [h.payload.source for h in hits]

    assert sources(store.search("h", None, 1, sparse=query_vector("xk-4471?")))[0] == "/codes"
    assert sources(store.search("h", None, 1, sparse=query_vector("환불은?"))) == ["/ko"]
    assert sources(store.search("h", dense, 1)) == ["/refunds"]
    # Fused: the keyword match first (high on both lists), the dense-only match still in.
    both = sources(store.search("h", dense, 3, sparse=query_vector("XK-4471")))
    assert both[0] == "/codes" and "/refunds" in both and "/ko" not in both
    hits = store.search("h", dense, 3, [document_id("h", "/codes")], query_vector("XK-4471"))
    assert "/codes" not in sources(hits) and hits[0].vector is not None
    # A collection without a sparse side still takes plain dense points.
    store.create("plain", 8)
    store.upsert("plain", [ChunkPoint(point_id("d", 0), dense, ChunkPayload("d", 0))])
    assert store.search("plain", dense, 1)[0].score == pytest.approx(1.0, abs=1e-4)
