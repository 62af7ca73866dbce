"""Sign-in for the web UI: how it may sign in, the OpenID redirect and callback, logout.

These routes answer without a key (they are how a browser gets one); the session cookie they
set is read by ``api/session.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from ragserve.api.errors import raises
from ragserve.api.serving.auth import LOGIN_TTL, AuthServing
from ragserve.api.session import (
    SESSION_COOKIE,
    clear_session_cookies,
    set_session_cookies,
)
from ragserve.errors import BackendError, NotFound, SignInFailed
from ragserve.protocol import AuthConfig, LogoutResult

router = APIRouter(tags=["auth"])

#: Pins a sign-in to the browser that started it; only the callback reads it.
STATE_COOKIE = "ragserve_oidc_state"


def _auth(request: Request) -> AuthServing:
    auth: AuthServing = request.app.state.serving.auth
    return auth


Auth = Annotated[AuthServing, Depends(_auth)]


def _base(request: Request) -> str:
    return str(request.base_url)


def _secure(request: Request) -> bool:
    # The scheme uvicorn reports: https directly, or from X-Forwarded-Proto of a trusted proxy.
    return request.url.scheme == "https"


@router.get("/api/auth/config", response_model=AuthConfig)
def auth_config(auth: Auth) -> AuthConfig:
    """How the web UI may sign in: single sign-on (when set up) and an API key."""
    return auth.config()


@router.get(
    "/auth/login",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the OpenID provider"},
        **raises(RequestValidationError, NotFound, BackendError),
    },
)
async def login(
    auth: Auth,
    request: Request,
    return_to: Annotated[str, Query(max_length=2000, description="Path to land on after")] = "/",
) -> RedirectResponse:
    """Send the browser to the OpenID provider (authorization code + PKCE, state, nonce)."""
    url, state = await auth.begin(return_to, _base(request))
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(LOGIN_TTL.total_seconds()),
        path="/auth/callback",
        httponly=True,
        secure=_secure(request),
        samesite="lax",
    )
    return response


@router.get(
    "/auth/callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "Signed in: to the page the sign-in started from; refused: to the "
            "UI with `signin_error`"
        },
        **raises(RequestValidationError, NotFound, BackendError),
    },
)
async def callback(
    auth: Auth,
    request: Request,
    state: Annotated[str, Query(max_length=512)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=512)] = None,
    error_description: Annotated[str | None, Query(max_length=2000)] = None,
) -> RedirectResponse:
    """The provider's answer: verify it, create or refresh the user, open a session. A sign-in
    that fails its checks goes back to the UI, which says why (``?signin_error=``)."""
    try:
        if error is not None or code is None:
            raise SignInFailed(f"the provider refused the sign-in: {error_description or error}")
        new, return_to = await auth.finish(
            code, state, request.cookies.get(STATE_COOKIE), _base(request)
        )
    except SignInFailed as exc:
        return RedirectResponse("/?" + urlencode({"signin_error": str(exc)}), status_code=302)
    response = RedirectResponse(return_to, status_code=302)
    max_age = timedelta(hours=auth.settings.session_max_age_h)
    set_session_cookies(response, new, secure=_secure(request), max_age=max_age)
    response.delete_cookie(STATE_COOKIE, path="/auth/callback")
    return response


@router.post("/auth/logout", response_model=LogoutResult, responses=raises(BackendError))
async def logout(auth: Auth, request: Request) -> JSONResponse:
    """End this browser's session (the cookie stops working at once) and name the provider's
    logout page when it has one, so the UI can end the single sign-on there too."""
    url = await auth.logout(request.cookies.get(SESSION_COOKIE), _base(request))
    response = JSONResponse(LogoutResult(logout_url=url).model_dump())
    clear_session_cookies(response, secure=_secure(request))
    return response
