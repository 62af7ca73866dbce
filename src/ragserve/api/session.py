"""Browser sessions: the cookie, its server-side record, and the middleware that turns a valid
session into ``request.state.principal`` after checking CSRF.

The cookie ``ragserve_session`` holds a random id (HttpOnly, SameSite=Lax, Secure over https);
the database keeps only its SHA-256. Each session has a CSRF token, given to the page in the
readable cookie ``ragserve_csrf`` and stored hashed beside the session: a state-changing request
that rides on the session cookie must echo it in ``X-CSRF-Token``, which another site's page
cannot read. Requests carrying ``Authorization`` are left to the key check (no cookie is used).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ragserve.access.principal import Principal
from ragserve.api.errors import describe
from ragserve.errors import DatabaseUnavailable, Forbidden
from ragserve.store.repositories.sessions import SessionRepository
from ragserve.store.tables import SessionRow, utcnow

SESSION_COOKIE = "ragserve_session"
CSRF_COOKIE = "ragserve_csrf"
CSRF_HEADER = "x-csrf-token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths a session may authenticate (the API docs too, when they need a key); static files
#: never cost a session lookup.
SESSION_PATHS = ("/api/", "/v1/", "/auth/", "/docs", "/redoc", "/openapi.json")
#: The last-use time is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class PrincipalSource(Protocol):
    """What the session middleware needs of the user directory (``UserDirectory``)."""

    async def principal_for_user(self, user_id: int) -> Principal | None: ...


@dataclass(frozen=True)
class NewSession:
    id: str
    csrf: str


class SessionStore:
    """Sessions in the SQL database, each ending at its expiry or after being idle too long."""

    def __init__(self, repo: SessionRepository, max_age: timedelta, idle: timedelta) -> None:
        self.repo = repo
        self.max_age = max_age
        self.idle = idle

    def create(self, user_id: int, id_token: str | None) -> NewSession:
        now = utcnow()
        self.repo.purge_expired(now - self.idle)
        new = NewSession(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32))
        self.repo.add(
            SessionRow(
                id_hash=digest(new.id),
                user_id=user_id,
                csrf_hash=digest(new.csrf),
                id_token=id_token,
                created_at=now,
                expires_at=now + self.max_age,
                last_seen_at=now,
            )
        )
        return new

    def resolve(self, session_id: str) -> SessionRow | None:
        """The live session for a cookie's id; an expired or idle one is deleted."""
        key = digest(session_id)
        row = self.repo.get(key)
        if row is None:
            return None
        now = utcnow()
        if row.expires_at <= now or row.last_seen_at + self.idle <= now:
            self.repo.remove(key)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            self.repo.touch(key, now)
        return row

    def end(self, session_id: str) -> SessionRow | None:
        return self.repo.remove(digest(session_id))


def csrf_matches(row: SessionRow, token: str | None) -> bool:
    return token is not None and secrets.compare_digest(digest(token), row.csrf_hash)


def _refusal(exc: Exception) -> Response:
    # Middleware runs outside the app's exception handlers: the same table shapes the answer.
    status, body = describe(exc)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class SessionAuth:
    """ASGI middleware: a valid session cookie becomes ``request.state.principal``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(SESSION_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or "authorization" in request.headers:
            await self.app(scope, receive, send)
            return
        auth = scope["app"].state.serving.auth
        try:
            row = await asyncio.to_thread(auth.sessions.resolve, session_id)
            principal = None
            if row is not None:
                principal = await auth.directory.principal_for_user(row.user_id)
        except DatabaseUnavailable as exc:
            await _refusal(exc)(scope, receive, send)
            return
        if row is None or principal is None:
            # An ended session is no sign-in: the route answers as for no credentials.
            await self.app(scope, receive, send)
            return
        if request.method in STATE_CHANGING and not csrf_matches(
            row, request.headers.get(CSRF_HEADER)
        ):
            response = _refusal(
                Forbidden(
                    "this request needs the X-CSRF-Token header of your session "
                    "(the web UI sends it; scripts should use an API key instead)"
                )
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def set_session_cookies(
    response: Response, new: NewSession, *, secure: bool, max_age: timedelta
) -> None:
    seconds = int(max_age.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        new.id,
        max_age=seconds,
        path="/",
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    # Readable by the page on purpose: it must copy the token into X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE, new.csrf, max_age=seconds, path="/", secure=secure, samesite="lax"
    )


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name, path="/", secure=secure, httponly=name == SESSION_COOKIE, samesite="lax"
        )
