from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import AccessDep, Doctor
from ragserve.api.errors import raises
from ragserve.errors import Forbidden
from ragserve.protocol import DoctorReport

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/doctor", response_model=DoctorReport, responses=raises(Forbidden))
async def doctor(serving: Doctor, access: AccessDep) -> DoctorReport:
    """`ragserve doctor` from the running server: each endpoint, with the fix in plain words.

    Failing checks are part of the report (`ok: false`), never an error status. Admins only
    once users exist.
    """
    access.admin("open")
    return await serving.run()
