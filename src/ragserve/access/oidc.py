"""OpenID Connect sign-in as a relying party: discovery, authorization code + PKCE (S256) with
state and nonce, the token exchange, and ID-token verification (signature from the provider's
JWKS, ``iss``, ``aud``, ``exp``, ``nonce``).

The browser half (cookies, redirects) lives in ``api/serving/auth.py``; this module only talks
to the provider and judges what it sends back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from ragserve.errors import BackendUnavailable, ConfigError, SignInFailed

#: Clock skew tolerated between ragserve and the provider, seconds.
LEEWAY_S = 60
#: Signing algorithms accepted for ID tokens (asymmetric only: the JWKS holds public keys).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class PendingLogin:
    """What ragserve remembers between sending the browser away and its return."""

    state: str
    nonce: str
    verifier: str
    return_to: str

    @classmethod
    def new(cls, return_to: str = "/") -> PendingLogin:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),  # 86 characters: within RFC 7636's 43-128
            return_to=safe_return_path(return_to),
        )


@dataclass(frozen=True)
class SsoIdentity:
    """A verified user as the provider describes them, with the role the settings give."""

    subject: str
    name: str
    email: str | None
    groups: tuple[str, ...]
    admin: bool


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def safe_return_path(path: str) -> str:
    """A same-site path to land on after sign-in; anything else (``//evil``, ``https:``) is /."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def identity_from_claims(
    claims: Mapping[str, Any], groups_claim: str, admin_groups: Sequence[str]
) -> SsoIdentity:
    """The user an ID token names; admin when one of their groups is an admin group."""
    raw = claims.get(groups_claim)
    if isinstance(raw, str):
        groups: tuple[str, ...] = tuple(g for g in raw.replace(",", " ").split() if g)
    elif isinstance(raw, list):
        groups = tuple(str(g) for g in raw)
    else:
        groups = ()
    subject = str(claims["sub"])
    email = claims.get("email")
    # A handle people can type in the share dialog before a display name with spaces.
    name = claims.get("preferred_username") or email or claims.get("name") or subject
    return SsoIdentity(
        subject=subject,
        name=str(name),
        email=str(email) if email else None,
        groups=groups,
        admin=bool(set(groups) & set(admin_groups)),
    )


def verify_id_token(
    token: str,
    keys: jwt.PyJWKSet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
) -> dict[str, Any]:
    """The token's claims once its signature, issuer, audience, expiry and nonce check out."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = _key_for(keys, kid)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=ALGORITHMS,
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise SignInFailed(f"the provider's ID token was refused: {exc}") from exc
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SignInFailed("the ID token's nonce does not match this sign-in; start again")
    # With several audiences the token must have been issued to ragserve (OIDC core 3.1.3.7).
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise SignInFailed("the ID token was issued to another client")
    return claims


def _key_for(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK:
    candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
    if len(candidates) != 1:
        raise jwt.InvalidKeyError(f"no single signing key with kid {kid!r} in the JWKS")
    return candidates[0]


class OidcClient:
    """The provider as ragserve sees it; discovery and keys are fetched once and cached
    (the keys again when a token names one not seen yet: the provider rotated them)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        scopes: str,
        http: httpx.AsyncClient,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self._http = http
        self._metadata: ProviderMetadata | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    self._metadata = await self._discover()
        return self._metadata

    async def _discover(self) -> ProviderMetadata:
        doc = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if doc.get("issuer") != self.issuer:
            raise ConfigError(
                f"the provider at RAGSERVE_OIDC_ISSUER calls itself {doc.get('issuer')!r}, "
                f"not {self.issuer!r}; set the issuer exactly as the provider names it"
            )
        methods = doc.get("code_challenge_methods_supported")
        if methods is not None and "S256" not in methods:
            raise ConfigError("the OpenID provider does not support PKCE with S256")
        try:
            return ProviderMetadata(
                issuer=doc["issuer"],
                authorization_endpoint=doc["authorization_endpoint"],
                token_endpoint=doc["token_endpoint"],
                jwks_uri=doc["jwks_uri"],
                end_session_endpoint=doc.get("end_session_endpoint"),
            )
        except KeyError as exc:
            raise ConfigError(f"the provider's discovery document lacks {exc}") from exc

    async def _signing_keys(self, refresh: bool = False) -> jwt.PyJWKSet:
        if self._keys is None or refresh:
            meta = await self.metadata()
            self._keys = jwt.PyJWKSet.from_dict(await self._get_json(meta.jwks_uri))
        return self._keys

    async def authorization_url(self, pending: PendingLogin, redirect_uri: str) -> str:
        meta = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": pkce_challenge(pending.verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{meta.authorization_endpoint}?{query}"

    async def sign_in(
        self, code: str, pending: PendingLogin, redirect_uri: str
    ) -> tuple[dict[str, Any], str]:
        """Exchange the code; the verified ID-token claims and the raw token (a logout hint)."""
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.client_id,
        }
        try:
            if self.client_secret:
                auth = httpx.BasicAuth(self.client_id, self.client_secret)
                response = await self._http.post(meta.token_endpoint, data=form, auth=auth)
            else:
                response = await self._http.post(meta.token_endpoint, data=form)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"the OpenID provider did not answer: {exc}") from exc
        if response.status_code != 200:
            raise SignInFailed(
                f"the provider refused the sign-in code ({response.status_code}): "
                f"{_error_text(response)}"
            )
        token = response.json().get("id_token")
        if not isinstance(token, str):
            raise SignInFailed("the provider's token response has no ID token")
        keys = await self._signing_keys()
        kid = _unverified_kid(token)
        if kid is not None and all(k.key_id != kid for k in keys.keys):
            keys = await self._signing_keys(refresh=True)
        claims = verify_id_token(
            token,
            keys,
            issuer=meta.issuer,
            client_id=self.client_id,
            nonce=pending.nonce,
        )
        return claims, token

    async def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the provider's session too (RP-initiated logout),
        or None when the provider offers no such endpoint."""
        meta = await self.metadata()
        if meta.end_session_endpoint is None:
            return None
        params = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{meta.end_session_endpoint}?{urlencode(params)}"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendUnavailable(f"the OpenID provider at {url} failed: {exc}") from exc
        return body


def _unverified_kid(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return str(kid) if kid is not None else None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("error_description") or body.get("error") or body)[:200]
