"""Who am I, my keys, a collection's members, user and group names, and the audit log."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from ragserve.access.principal import Role
from ragserve.api.deps import AccessApi, AccessDep
from ragserve.api.errors import raises
from ragserve.api.routes import CollectionNamePath
from ragserve.api.serving.access import AccessServing
from ragserve.errors import CollectionNotFound, Forbidden, InvalidRequest, NotFound
from ragserve.protocol import (
    PRINCIPAL_NAME,
    AuditEntry,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    Me,
    Member,
    NameOnly,
)

router = APIRouter(prefix="/api", tags=["access"])


@router.get("/me", response_model=Me)
def me(access: AccessDep) -> Me:
    """The caller: user, admin or not, the key's scopes, groups, and how it signed in."""
    return AccessServing.me(access.principal)


@router.get("/keys", response_model=list[KeyInfo])
def list_keys(access: AccessDep, api: AccessApi) -> list[KeyInfo]:
    """The caller's own keys (revoked ones marked), never their secrets."""
    return api.keys(access.principal)


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    responses=raises(RequestValidationError, InvalidRequest, Forbidden),
)
def create_key(body: KeyCreate, access: AccessDep, api: AccessApi) -> KeyCreated:
    """A new key for the caller, with some of the calling key's scopes; `key` is shown once."""
    return api.create_key(access.principal, body)


@router.delete(
    "/keys/{key_id}", status_code=204, responses=raises(RequestValidationError, NotFound)
)
def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], access: AccessDep, api: AccessApi
) -> Response:
    """Revoke one of the caller's keys: refused from the next request on."""
    api.revoke_key(access.principal, key_id)
    return Response(status_code=204)


_MEMBER_ERRORS = raises(RequestValidationError, CollectionNotFound, Forbidden)


@router.get("/collections/{name}/members", response_model=list[Member], responses=_MEMBER_ERRORS)
def list_members(name: CollectionNamePath, access: AccessDep, api: AccessApi) -> list[Member]:
    """Who may use the collection: its owner, then each user's or group's role. Owners only."""
    access.collection(name, Role.owner)
    return api.members(name)


@router.put(
    "/collections/{name}/members",
    response_model=list[Member],
    responses=raises(RequestValidationError, CollectionNotFound, Forbidden, InvalidRequest),
)
def share(
    name: CollectionNamePath, body: Member, access: AccessDep, api: AccessApi
) -> list[Member]:
    """Give a user or group a role (viewer, editor, owner), or change it. Owners only."""
    access.collection(name, Role.owner)
    members = api.share(name, body)
    access.record("collection.share", name, type=body.type, name=body.name, role=body.role)
    return members


@router.delete(
    "/collections/{name}/members/{kind}/{member}",
    status_code=204,
    responses=raises(RequestValidationError, CollectionNotFound, Forbidden, NotFound),
)
def unshare(
    name: CollectionNamePath,
    kind: Literal["user", "group"],
    member: Annotated[str, Path(pattern=PRINCIPAL_NAME)],
    access: AccessDep,
    api: AccessApi,
) -> Response:
    """Take a user's or group's role away. Owners only."""
    access.collection(name, Role.owner)
    api.unshare(name, kind, member)
    access.record("collection.unshare", name, type=kind, name=member)
    return Response(status_code=204)


@router.get("/users", response_model=list[NameOnly], responses=raises(RequestValidationError))
def user_names(
    api: AccessApi,
    q: Annotated[str | None, Query(max_length=200, description="Names containing this.")] = None,
) -> list[NameOnly]:
    """User names, for choosing whom to share with (names only)."""
    return api.user_names(q)


@router.get("/groups", response_model=list[NameOnly])
def group_names(api: AccessApi) -> list[NameOnly]:
    return api.group_names()


@router.get(
    "/audit",
    response_model=list[AuditEntry],
    responses=raises(RequestValidationError, Forbidden),
)
async def audit(
    access: AccessDep,
    api: AccessApi,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[AuditEntry]:
    """Who created, shared, deleted or reconfigured what, newest first. Admins only."""
    access.admin("required")
    return await asyncio.to_thread(api.audit, limit, offset)
