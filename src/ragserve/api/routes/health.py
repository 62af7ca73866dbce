from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ragserve.api.deps import ReadinessDep
from ragserve.protocol import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
def healthz() -> HealthResponse:
    """The process is up and answering."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Not ready: see `checks`"}},
)
async def readyz(readiness: ReadinessDep) -> JSONResponse:
    """This pod can serve: embedder loaded, store open; 503 with the failing check if not.
    Chat backends are probed and reported in ``checks`` but never make the pod unready."""
    ok, checks = await readiness.check()
    body = HealthResponse(status="ready" if ok else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
