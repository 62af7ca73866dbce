from __future__ import annotations

from fastapi import APIRouter

from ragserve.api.deps import State
from ragserve.doctor import server_checks
from ragserve.protocol import DoctorCheck, DoctorReport

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/doctor", response_model=DoctorReport)
async def doctor(state: State) -> DoctorReport:
    """`ragserve doctor` from the running server: each endpoint, with the fix in plain words."""
    checks = await server_checks(
        state.settings,
        state.ingest.catalog,
        state.embedder,
        state.answers.chat,
        state.switch.specs,
    )
    return DoctorReport(
        ok=all(c.ok for c in checks),
        checks=[DoctorCheck(**c.as_dict()) for c in checks],
    )
