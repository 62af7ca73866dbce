from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import Doctor, Resources, admin_if_configured
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
Admin = [Depends(admin_if_configured)]


@router.get("/backends", response_model=list[BackendInfo])
def list_backends(resources: Resources) -> list[BackendInfo]:
    """The chat fallback chain in order: stored backends first, then the settings'."""
    return resources.listing()


@router.put(
    "/backends/{name}",
    response_model=list[BackendInfo],
    dependencies=Admin,
    responses=raises(RequestValidationError, RequestTooLarge, Forbidden, BackendSpecError),
)
async def put_backend(
    name: BackendNamePath, body: BackendResource, resources: Resources
) -> list[BackendInfo]:
    """Add or replace a stored chat backend; the chain is rebuilt at once.

    Admin-only when RAGSERVE_ADMIN_KEY is set. An entry that cannot be built (unknown kind,
    no or a non-http base URL...) is refused with 422 naming the field, and nothing is stored.
    """
    return await resources.put(name, body)


@router.delete(
    "/backends/{name}",
    status_code=204,
    dependencies=Admin,
    responses=raises(RequestValidationError, Forbidden, NotFound),
)
async def delete_backend(name: BackendNamePath, resources: Resources) -> Response:
    """Remove a stored chat backend (backends from the settings cannot be removed here)."""
    await resources.delete(name)
    return Response(status_code=204)


@router.post(
    "/backends/{name}/test",
    response_model=DoctorReport,
    responses=raises(RequestValidationError, NotFound),
)
async def test_backend(name: BackendNamePath, doctor: Doctor) -> DoctorReport:
    """The doctor's checks for one backend of the chain (the UI's Test button)."""
    return await doctor.check_backend(name)


@router.put(
    "/order",
    response_model=list[BackendInfo],
    dependencies=Admin,
    responses=raises(RequestValidationError, RequestTooLarge, Forbidden, NotFound),
)
async def order_backends(body: BackendOrder, resources: Resources) -> list[BackendInfo]:
    """Put stored backends in the order to try them (positions 0, 1, 2...); returns the chain.

    Stored backends not named keep their order after the named ones; backends from the
    settings always come after the stored ones. Admin-only when RAGSERVE_ADMIN_KEY is set.
    """
    return await resources.reorder(body.names)


@router.post(
    "/models",
    response_model=ModelProbeResponse,
    dependencies=Admin,
    responses=raises(
        RequestValidationError, RequestTooLarge, Forbidden, BackendSpecError, BackendError
    ),
)
async def probe_models(body: ModelProbeRequest, resources: Resources) -> ModelProbeResponse:
    """The models an endpoint serves (its `/models`), to pick one before adding it.

    A URL that is not http(s) is 422; an endpoint that cannot be reached, refuses the key or
    does not answer a model list is 502 (504 past RAGSERVE_MODELS_PROBE_TIMEOUT_S), with
    what went wrong in the body. The key is used for this call only and never stored.
    Admin-only when RAGSERVE_ADMIN_KEY is set (the server calls the URL it is given).
    """
    return await resources.models(body)


@router.get("/embedding", response_model=EmbeddingInfo)
def embedding(resources: Resources) -> EmbeddingInfo:
    """The embedding model and endpoint, and why it cannot be swapped here."""
    return resources.embedding()
