"""A stored chunk keeps every field it was written with (the writer spells the keys out)."""

import json
from dataclasses import fields

from ragserve.store.payload import ChunkPayload


def test_every_field_survives_the_store_round_trip() -> None:
    payload = ChunkPayload(
        document_id="doc-1",
        chunk_index=7,
        source="/manuals/관리자 안내.pdf",
        text="환불은 30일 이내에 요청하세요.",
        title="Admin guide",
        kind="pdf",
        page=12,
        heading=("Billing", "Refunds"),
        start=120,
        end=180,
    )
    stored = json.loads(json.dumps(payload.to_json()))  # what a store keeps: JSON values
    assert set(stored) == {f.name for f in fields(ChunkPayload)}, "a field is not written"
    assert ChunkPayload.from_json(stored) == payload
