from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from ragserve.access.principal import Role
from ragserve.api.deps import AccessDep, Collections, Reindexing
from ragserve.api.errors import raises
from ragserve.api.routes import CollectionNamePath
from ragserve.errors import (
    AlreadyExists,
    CollectionBusy,
    CollectionNotFound,
    EmbeddingMismatch,
    Forbidden,
    InvalidRequest,
    RequestTooLarge,
    SparseIndexMissing,
)
from ragserve.protocol import CollectionCreate, CollectionInfo, CollectionUpdate, ReindexStatus

router = APIRouter(prefix="/api/collections", tags=["collections"])


@router.post(
    "",
    status_code=201,
    response_model=CollectionInfo,
    responses=raises(
        RequestValidationError,
        InvalidRequest,
        AlreadyExists,
        RequestTooLarge,
        SparseIndexMissing,
        Forbidden,
    ),
)
def create_collection(
    body: CollectionCreate, collections: Collections, access: AccessDep
) -> CollectionInfo:
    """Create an empty collection pinned to the server's embedding model; its creator owns it."""
    access.scope("ingest")
    info = collections.create(body)
    access.claim(collection=info.name)
    access.record("collection.create", info.name)
    return info.model_copy(update={"role": "owner"})


@router.get("", response_model=list[CollectionInfo])
def list_collections(collections: Collections, access: AccessDep) -> list[CollectionInfo]:
    """The collections the caller may read, with its role on each and their counts."""
    roles = access.roles()
    return [
        info.model_copy(update={"role": roles[info.name].name})
        for info in collections.all()
        if info.name in roles
    ]


@router.get(
    "/{name}",
    response_model=CollectionInfo,
    responses=raises(RequestValidationError, CollectionNotFound, Forbidden),
)
def get_collection(
    name: CollectionNamePath, collections: Collections, access: AccessDep
) -> CollectionInfo:
    role = access.collection(name, Role.viewer)
    return collections.get(name).model_copy(update={"role": role.name})


@router.patch(
    "/{name}",
    response_model=CollectionInfo,
    responses=raises(
        RequestValidationError, CollectionNotFound, RequestTooLarge, SparseIndexMissing, Forbidden
    ),
)
def update_collection(
    name: CollectionNamePath, body: CollectionUpdate, collections: Collections, access: AccessDep
) -> CollectionInfo:
    """Set the collection's own retrieval mode (`dense`, `sparse`, `hybrid`; null: the
    server's default). Requests may still name another mode. Owners only."""
    role = access.collection(name, Role.owner)
    info = collections.update(name, body)
    access.record("collection.reconfigure", name, retrieval_mode=body.retrieval_mode)
    return info.model_copy(update={"role": role.name})


@router.post(
    "/{name}/reindex",
    status_code=202,
    response_model=ReindexStatus,
    responses=raises(
        RequestValidationError, CollectionNotFound, EmbeddingMismatch, CollectionBusy, Forbidden
    ),
)
def reindex_collection(
    name: CollectionNamePath, reindexing: Reindexing, access: AccessDep
) -> ReindexStatus:
    """Rebuild every document's vectors (dense and keyword) from its stored file, in the
    background: how a collection made before hybrid search gets its keyword side. Searches
    use the old vectors until all are in; meanwhile the collection takes no other work (409
    `collection_busy`). Follow it with `GET` on the same path. Owners only."""
    access.collection(name, Role.owner)
    status = reindexing.start(name)
    access.record("collection.reindex", name)
    return status


@router.get(
    "/{name}/reindex",
    response_model=ReindexStatus,
    responses=raises(RequestValidationError, CollectionNotFound, Forbidden),
)
def reindex_status(
    name: CollectionNamePath, reindexing: Reindexing, access: AccessDep
) -> ReindexStatus:
    """The collection's latest re-index in this server process: running, done or failed
    (`none`: not re-indexed since the server started)."""
    access.collection(name, Role.viewer)
    return reindexing.get(name)


@router.delete(
    "/{name}",
    status_code=204,
    responses=raises(RequestValidationError, CollectionNotFound, CollectionBusy, Forbidden),
)
def delete_collection(
    name: CollectionNamePath, collections: Collections, access: AccessDep
) -> Response:
    """Delete a collection, its vectors, its documents and their queued work. Owners only."""
    access.collection(name, Role.owner)
    collections.delete(name)
    access.record("collection.delete", name)
    return Response(status_code=204)
