from __future__ import annotations

from fastapi import APIRouter, Response

from ragserve.api.deps import Collections
from ragserve.protocol import CollectionCreate, CollectionInfo

router = APIRouter(prefix="/api/collections", tags=["collections"])


@router.post("", status_code=201, response_model=CollectionInfo)
def create_collection(body: CollectionCreate, collections: Collections) -> CollectionInfo:
    """Create an empty collection pinned to the server's embedding model."""
    return collections.create(body)


@router.get("", response_model=list[CollectionInfo])
def list_collections(collections: Collections) -> list[CollectionInfo]:
    """Every collection with its number of ready documents."""
    return collections.all()


@router.get("/{name}", response_model=CollectionInfo)
def get_collection(name: str, collections: Collections) -> CollectionInfo:
    return collections.get(name)


@router.delete("/{name}", status_code=204)
def delete_collection(name: str, collections: Collections) -> Response:
    """Delete a collection, its vectors, its documents and their queued work."""
    collections.delete(name)
    return Response(status_code=204)
