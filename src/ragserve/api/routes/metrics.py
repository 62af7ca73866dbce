from __future__ import annotations

from fastapi import APIRouter, Response

from ragserve.api.deps import Metrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(serving: Metrics) -> Response:
    """Prometheus text format: requests, chat latencies, queues, backend health."""
    return Response(await serving.render(), media_type=serving.content_type)
