from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import Doctor
from ragserve.protocol import DoctorReport

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/doctor", response_model=DoctorReport)
async def doctor(serving: Doctor) -> DoctorReport:
    """`ragserve doctor` from the running server: each endpoint, with the fix in plain words.

    Failing checks are part of the report (`ok: false`), never an error status.
    """
    return await serving.run()
