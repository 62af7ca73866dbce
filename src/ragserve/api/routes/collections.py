from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import Collections
from ragserve.api.errors import raises
from ragserve.api.routes import CollectionNamePath
from ragserve.errors import (
    AlreadyExists,
    CollectionNotFound,
    InvalidRequest,
    RequestTooLarge,
    SparseIndexMissing,
)
from ragserve.protocol import CollectionCreate, CollectionInfo, CollectionUpdate

router = APIRouter(prefix="/api/collections", tags=["collections"])


@router.post(
    "",
    status_code=201,
    response_model=CollectionInfo,
    responses=raises(
        RequestValidationError, InvalidRequest, AlreadyExists, RequestTooLarge, SparseIndexMissing
    ),
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


@router.patch(
    "/{name}",
    response_model=CollectionInfo,
    responses=raises(
        RequestValidationError, CollectionNotFound, RequestTooLarge, SparseIndexMissing
    ),
)
def update_collection(
    name: CollectionNamePath, body: CollectionUpdate, collections: Collections
) -> CollectionInfo:
    """Set the collection's own retrieval mode (`dense`, `sparse`, `hybrid`; null: the
    server's default). Requests may still name another mode."""
    return collections.update(name, body)


@router.delete(
    "/{name}", status_code=204, responses=raises(RequestValidationError, CollectionNotFound)
)
def delete_collection(name: CollectionNamePath, collections: Collections) -> Response:
    """Delete a collection, its vectors, its documents and their queued work."""
    collections.delete(name)
    return Response(status_code=204)
