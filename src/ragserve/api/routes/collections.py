from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import Collections
from ragserve.api.errors import raises
from ragserve.api.routes import CollectionNamePath
from ragserve.errors import AlreadyExists, CollectionNotFound, InvalidRequest, RequestTooLarge
from ragserve.protocol import CollectionCreate, CollectionInfo

router = APIRouter(prefix="/api/collections", tags=["collections"])


@router.post(
    "",
    status_code=201,
    response_model=CollectionInfo,
    responses=raises(RequestValidationError, InvalidRequest, AlreadyExists, RequestTooLarge),
)
def create_collection(body: CollectionCreate, collections: Collections) -> CollectionInfo:
    """Create an empty collection pinned to the server's embedding model."""
    return collections.create(body)


@router.get("", response_model=list[CollectionInfo])
def list_collections(collections: Collections) -> list[CollectionInfo]:
    """Every collection with its number of ready documents."""
    return collections.all()


@router.get(
    "/{name}",
    response_model=CollectionInfo,
    responses=raises(RequestValidationError, CollectionNotFound),
)
def get_collection(name: CollectionNamePath, collections: Collections) -> CollectionInfo:
    return collections.get(name)


@router.delete(
    "/{name}", status_code=204, responses=raises(RequestValidationError, CollectionNotFound)
)
def delete_collection(name: CollectionNamePath, collections: Collections) -> Response:
    """Delete a collection, its vectors, its documents and their queued work."""
    collections.delete(name)
    return Response(status_code=204)
