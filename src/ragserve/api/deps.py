"""Route dependencies: the server state and the API keys."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from ragserve.api.state import ServerState
from ragserve.errors import Forbidden, Unauthorized


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.ragserve
    return state


State = Annotated[ServerState, Depends(get_state)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def require_api_key(request: Request, state: State) -> None:
    """Every /api and /v1 route, when ``RAGSERVE_API_KEY`` is set."""
    expected = state.settings.api_key
    if expected is None:
        return
    given = _bearer(request)
    admin = state.settings.admin_key
    if given is None or not (
        hmac.compare_digest(given, expected) or (admin and hmac.compare_digest(given, admin))
    ):
        raise Unauthorized("missing or wrong API key: send `Authorization: Bearer <key>`")


def require_admin(request: Request, state: State) -> None:
    """Admin routes: only with ``RAGSERVE_ADMIN_KEY`` set and presented."""
    expected = state.settings.admin_key
    if expected is None:
        raise Forbidden("admin routes are off; set RAGSERVE_ADMIN_KEY to turn them on")
    given = _bearer(request)
    if given is None or not hmac.compare_digest(given, expected):
        raise Forbidden("this route needs the admin key: `Authorization: Bearer <admin key>`")
