"""Signing in through an OpenID provider and out again: the browser's side of the flow.

``begin`` stores a pending sign-in (state, nonce, PKCE verifier) and names the provider URL to
send the browser to; ``finish`` takes it back by ``state`` (once), exchanges the code, creates
or refreshes the user from the ID token's claims and opens a session; ``logout`` ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import httpx

from ragserve.access.oidc import OidcClient, PendingLogin, identity_from_claims
from ragserve.access.principal import Principal
from ragserve.api.session import NewSession, PrincipalSource, SessionStore, digest
from ragserve.config import Settings
from ragserve.errors import NotFound, SignInFailed
from ragserve.protocol import AuthConfig
from ragserve.store.tables import OidcLoginRow, utcnow

#: How long a browser may spend at the provider's login form.
LOGIN_TTL = timedelta(minutes=10)
CALLBACK_PATH = "/auth/callback"


class SsoDirectory(PrincipalSource, Protocol):
    """The user directory as single sign-on uses it (``ragserve.access.directory``)."""

    async def upsert_sso_user(
        self, subject: str, name: str, email: str | None, groups: Sequence[str], admin: bool
    ) -> Principal: ...


class AuthServing:
    def __init__(self, settings: Settings, sessions: SessionStore, directory: SsoDirectory) -> None:
        self.settings = settings
        self.sessions = sessions
        self.directory = directory
        self._http: httpx.AsyncClient | None = None
        self.oidc: OidcClient | None = None
        if settings.oidc_issuer and settings.oidc_client_id:
            self._http = httpx.AsyncClient(timeout=10.0)
            self.oidc = OidcClient(
                settings.oidc_issuer,
                settings.oidc_client_id,
                settings.oidc_client_secret,
                settings.oidc_scopes,
                self._http,
            )

    def config(self) -> AuthConfig:
        on = self.oidc is not None
        return AuthConfig(oidc=on, login_url="/auth/login" if on else None, key_login=True)

    def _client(self) -> OidcClient:
        if self.oidc is None:  # the sign-in routes are not there
            raise NotFound(
                "single sign-on is not set up: set RAGSERVE_OIDC_ISSUER and RAGSERVE_OIDC_CLIENT_ID"
            )
        return self.oidc

    def redirect_uri(self, request_base: str) -> str:
        return (self.settings.public_url or request_base.rstrip("/")) + CALLBACK_PATH

    async def begin(self, return_to: str, request_base: str) -> tuple[str, str]:
        """The provider URL to send the browser to, and the state to pin in its cookie."""
        client = self._client()
        pending = PendingLogin.new(return_to)
        url = await client.authorization_url(pending, self.redirect_uri(request_base))
        row = OidcLoginRow(
            state_hash=digest(pending.state),
            nonce=pending.nonce,
            verifier=pending.verifier,
            return_to=pending.return_to,
            expires_at=utcnow() + LOGIN_TTL,
        )
        await asyncio.to_thread(self.sessions.repo.add_login, row)
        return url, pending.state

    async def finish(
        self, code: str, state: str, state_cookie: str | None, request_base: str
    ) -> tuple[NewSession, str]:
        """Open a session for the provider's answer; the session and where to land."""
        client = self._client()
        # The state must come back to the browser that started the sign-in (login CSRF).
        if state_cookie is None or state_cookie != state:
            raise SignInFailed("this sign-in was not started in this browser; start again")
        row = await asyncio.to_thread(self.sessions.repo.take_login, digest(state))
        if row is None or row.expires_at <= utcnow():
            raise SignInFailed("this sign-in is unknown, used or expired; start again")
        pending = PendingLogin(state, row.nonce, row.verifier, row.return_to)
        claims, id_token = await client.sign_in(code, pending, self.redirect_uri(request_base))
        who = identity_from_claims(
            claims, self.settings.oidc_groups_claim, self.settings.oidc_admin_groups
        )
        try:
            principal = await self.directory.upsert_sso_user(
                who.subject, who.name, who.email, list(who.groups), who.admin
            )
        except NotFound as exc:  # the user exists and is disabled
            raise SignInFailed(f"the account {who.name!r} is disabled here") from exc
        if principal.user_id is None:
            raise SignInFailed(f"the provider's user {who.name!r} got no account")
        new = await asyncio.to_thread(self.sessions.create, principal.user_id, id_token)
        return new, row.return_to

    async def logout(self, session_id: str | None, request_base: str) -> str | None:
        """End the session; the provider's logout URL to visit next, if it has one."""
        ended = None
        if session_id:
            ended = await asyncio.to_thread(self.sessions.end, session_id)
        if self.oidc is None or ended is None:
            return None
        home = (self.settings.public_url or request_base.rstrip("/")) + "/"
        return await self.oidc.logout_url(ended.id_token, home)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
