from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import AccessDep, Doctor, Resources
from ragserve.api.errors import raises
from ragserve.api.routes import BackendNamePath
from ragserve.errors import BackendError, BackendSpecError, Forbidden, NotFound, RequestTooLarge
from ragserve.protocol import (
    BackendInfo,
    BackendOrder,
    BackendResource,
    DoctorReport,
    EmbeddingInfo,
    ModelProbeRequest,
    ModelProbeResponse,
)

router = APIRouter(prefix="/api/resources", tags=["resources"])


@router.get("/backends", response_model=list[BackendInfo], responses=raises(Forbidden))
def list_backends(resources: Resources, access: AccessDep) -> list[BackendInfo]:
    """The chat fallback chain in order: stored backends first, then the settings'."""
    access.admin("open")
    return resources.listing()


@router.put(
    "/backends/{name}",
    response_model=list[BackendInfo],
    responses=raises(RequestValidationError, RequestTooLarge, Forbidden, BackendSpecError),
)
async def put_backend(
    name: BackendNamePath, body: BackendResource, resources: Resources, access: AccessDep
) -> list[BackendInfo]:
    """Add or replace a stored chat backend; the chain is rebuilt at once.

    Admin-only (once users exist: admins; before, when RAGSERVE_ADMIN_KEY is set). An entry
    that cannot be built (unknown kind, no or a non-http base URL, a link-local or
    cloud-metadata address...) is refused with 422 naming the field, and nothing is stored.
    Its API key is stored encrypted when RAGSERVE_SECRET_KEY is set, never shown again.
    """
    access.admin("if_configured")
    listing = await resources.put(name, body)
    await asyncio.to_thread(access.record, "backend.put", name, base_url=body.base_url)
    return listing


@router.delete(
    "/backends/{name}",
    status_code=204,
    responses=raises(RequestValidationError, Forbidden, NotFound),
)
async def delete_backend(
    name: BackendNamePath, resources: Resources, access: AccessDep
) -> Response:
    """Remove a stored chat backend (backends from the settings cannot be removed here)."""
    access.admin("if_configured")
    await resources.delete(name)
    await asyncio.to_thread(access.record, "backend.delete", name)
    return Response(status_code=204)


@router.post(
    "/backends/{name}/test",
    response_model=DoctorReport,
    responses=raises(RequestValidationError, NotFound, Forbidden),
)
async def test_backend(name: BackendNamePath, doctor: Doctor, access: AccessDep) -> DoctorReport:
    """The doctor's checks for one backend of the chain (the UI's Test button)."""
    access.admin("open")
    return await doctor.check_backend(name)


@router.put(
    "/order",
    response_model=list[BackendInfo],
    responses=raises(RequestValidationError, RequestTooLarge, Forbidden, NotFound),
)
async def order_backends(
    body: BackendOrder, resources: Resources, access: AccessDep
) -> list[BackendInfo]:
    """Put stored backends in the order to try them (positions 0, 1, 2...); returns the chain.

    Stored backends not named keep their order after the named ones; backends from the
    settings always come after the stored ones. Admin-only (once users exist: admins;
    before, when RAGSERVE_ADMIN_KEY is set).
    """
    access.admin("if_configured")
    listing = await resources.reorder(body.names)
    await asyncio.to_thread(access.record, "backend.order", "chain", names=body.names)
    return listing


@router.post(
    "/models",
    response_model=ModelProbeResponse,
    responses=raises(
        RequestValidationError, RequestTooLarge, Forbidden, BackendSpecError, BackendError
    ),
)
async def probe_models(
    body: ModelProbeRequest, resources: Resources, access: AccessDep
) -> ModelProbeResponse:
    """The models an endpoint serves (its `/models`), to pick one before adding it.

    A URL that is not http(s) is 422; an endpoint that cannot be reached, refuses the key or
    does not answer a model list is 502 (504 past RAGSERVE_MODELS_PROBE_TIMEOUT_S), with
    what went wrong in the body. The key is used for this call only and never stored.
    Admin-only (once users exist: admins; before, when RAGSERVE_ADMIN_KEY is set): the
    server calls the URL it is given.
    """
    access.admin("if_configured")
    return await resources.models(body)


@router.get("/embedding", response_model=EmbeddingInfo, responses=raises(Forbidden))
def embedding(resources: Resources, access: AccessDep) -> EmbeddingInfo:
    """The embedding model and endpoint, and why it cannot be swapped here."""
    access.admin("open")
    return resources.embedding()
