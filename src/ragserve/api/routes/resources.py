from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ragserve.api.deps import Doctor, Resources, admin_if_configured
from ragserve.protocol import BACKEND_NAME, BackendInfo, BackendResource, DoctorReport

router = APIRouter(prefix="/api/resources/backends", tags=["resources"])
Admin = [Depends(admin_if_configured)]
Name = Annotated[str, Path(pattern=BACKEND_NAME, description="Letters, digits, ., _ and -.")]


@router.get("", response_model=list[BackendInfo])
def list_backends(resources: Resources) -> list[BackendInfo]:
    """The chat fallback chain in order: stored backends first, then the settings'."""
    return resources.listing()


@router.put("/{name}", response_model=list[BackendInfo], dependencies=Admin)
async def put_backend(name: Name, body: BackendResource, resources: Resources) -> list[BackendInfo]:
    """Add or replace a stored chat backend; the chain is rebuilt at once."""
    return await resources.put(name, body)


@router.delete("/{name}", status_code=204, dependencies=Admin)
async def delete_backend(name: Name, resources: Resources) -> Response:
    """Remove a stored chat backend (backends from the settings cannot be removed here)."""
    await resources.delete(name)
    return Response(status_code=204)


@router.post("/{name}/test", response_model=DoctorReport)
async def test_backend(name: str, doctor: Doctor) -> DoctorReport:
    """The doctor's checks for one backend of the chain (the UI's Test button)."""
    return await doctor.check_backend(name)
