from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.exceptions import RequestValidationError

from ragserve.api.deps import Doctor, Resources, admin_if_configured
from ragserve.api.errors import raises
from ragserve.api.routes import BackendNamePath
from ragserve.errors import BackendSpecError, Forbidden, NotFound, RequestTooLarge
from ragserve.protocol import BackendInfo, BackendResource, DoctorReport

router = APIRouter(prefix="/api/resources/backends", tags=["resources"])
Admin = [Depends(admin_if_configured)]


@router.get("", response_model=list[BackendInfo])
def list_backends(resources: Resources) -> list[BackendInfo]:
    """The chat fallback chain in order: stored backends first, then the settings'."""
    return resources.listing()


@router.put(
    "/{name}",
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
    "/{name}",
    status_code=204,
    dependencies=Admin,
    responses=raises(RequestValidationError, Forbidden, NotFound),
)
async def delete_backend(name: BackendNamePath, resources: Resources) -> Response:
    """Remove a stored chat backend (backends from the settings cannot be removed here)."""
    await resources.delete(name)
    return Response(status_code=204)


@router.post(
    "/{name}/test",
    response_model=DoctorReport,
    responses=raises(RequestValidationError, NotFound),
)
async def test_backend(name: BackendNamePath, doctor: Doctor) -> DoctorReport:
    """The doctor's checks for one backend of the chain (the UI's Test button)."""
    return await doctor.check_backend(name)
