from __future__ import annotations

from fastapi import APIRouter, Response

from ragserve.api.deps import State
from ragserve.api.views import collection_info
from ragserve.errors import AlreadyExists, CollectionNotFound, ConfigError
from ragserve.protocol import CollectionCreate, CollectionInfo

router = APIRouter(prefix="/api/collections", tags=["collections"])


@router.post("", status_code=201, response_model=CollectionInfo)
def create_collection(body: CollectionCreate, state: State) -> CollectionInfo:
    """Create an empty collection pinned to the server's embedding model."""
    model = state.embedder.model_id
    if body.embedding_model not in (None, model):
        raise ConfigError(
            f"this server embeds with {model!r}; a collection for {body.embedding_model!r} "
            "needs a server started with RAGSERVE_EMBED_MODEL set to it"
        )
    catalog = state.ingest.catalog
    if catalog.metadata.get_collection(body.name) is not None:
        raise AlreadyExists(f"collection {body.name!r} already exists")
    row = catalog.open(body.name, model, state.embedder.dimension, create=True)
    return collection_info(row, 0)


@router.get("", response_model=list[CollectionInfo])
def list_collections(state: State) -> list[CollectionInfo]:
    """Every collection with its number of ready documents."""
    return [collection_info(row, n) for row, n in state.ingest.catalog.collections()]


@router.get("/{name}", response_model=CollectionInfo)
def get_collection(name: str, state: State) -> CollectionInfo:
    for row, n in state.ingest.catalog.collections():
        if row.name == name:
            return collection_info(row, n)
    raise CollectionNotFound(name)


@router.delete("/{name}", status_code=204)
def delete_collection(name: str, state: State) -> Response:
    """Delete a collection, its vectors, its documents and their queued work."""
    state.ingest.delete_collection(name)
    return Response(status_code=204)
