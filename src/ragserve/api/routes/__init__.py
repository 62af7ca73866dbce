"""Thin routes, one module per route family; path parameters shared between them here.

Each route declares the errors it can answer with ``raises(...)`` (api/errors.py), so the
OpenAPI spec is a contract: every status a client can meet is listed with its body.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Path

from ragserve.protocol import BACKEND_NAME, COLLECTION_NAME

CollectionNamePath = Annotated[
    str,
    Path(
        pattern=COLLECTION_NAME,
        description="Letters, digits, '.', '_' or '-'; at most 100, starting with a letter or "
        "digit.",
    ),
]
BackendNamePath = Annotated[
    str, Path(pattern=BACKEND_NAME, description="Letters, digits, '.', '_' and '-'; at most 64.")
]
# Documents, jobs and conversations are named by UUIDs the server made; routes match them
# with `{…:uuid}`, so `…/documents/from-paths` is not a document and anything else is 404.
DocumentIdPath = Annotated[UUID, Path(description="A document's id, as listed.")]
JobIdPath = Annotated[UUID, Path(description="A job's id, as an upload returned it.")]
ConversationIdPath = Annotated[UUID, Path(description="The `conversation_id` of a chat's `meta`.")]


def event_stream(description: str, events: list[str] | None = None) -> dict[str, Any]:
    """The 200 of a route streaming Server-Sent Events, each event described by
    ``itemSchema``: named ``events`` with JSON data, or (``None``) OpenAI's unnamed
    ``data:`` lines (JSON chunks, then ``[DONE]``)."""
    data: dict[str, Any] = {"type": "string"}
    item: dict[str, Any] = {"type": "object", "required": ["data"], "properties": {"data": data}}
    if events is not None:
        data["contentMediaType"] = "application/json"
        item["required"] = ["event", "data"]
        item["properties"]["event"] = {"enum": events}
    return {"description": description, "content": {"text/event-stream": {"itemSchema": item}}}
