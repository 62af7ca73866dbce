"""The OpenID checks that decide whether a sign-in is trusted: PKCE, the ID token's signature,
issuer, audience, expiry and nonce, the state's round trip, and sessions' expiry."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ragserve.access.oidc import (
    PendingLogin,
    identity_from_claims,
    pkce_challenge,
    safe_return_path,
    verify_id_token,
)
from ragserve.access.principal import Principal
from ragserve.api.serving.auth import AuthServing
from ragserve.api.session import SessionStore, csrf_matches, digest
from ragserve.config import Settings
from ragserve.errors import SignInFailed
from ragserve.store.db import Database
from ragserve.store.repositories.sessions import SessionRepository
from ragserve.store.tables import OidcLoginRow, UserRow, utcnow

ISSUER = "https://id.example.test"
CLIENT = "ragserve"


def _keypair(kid: str) -> tuple[rsa.RSAPrivateKey, jwt.PyJWKSet]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public.update(kid=kid, use="sig", alg="RS256")
    return private, jwt.PyJWKSet.from_dict({"keys": [public]})


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, jwt.PyJWKSet]:
    return _keypair("k1")


def _token(private: rsa.RSAPrivateKey, kid: str = "k1", **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        **overrides,
    }
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


def test_pkce_s256_matches_rfc7636_example() -> None:
    # RFC 7636 appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    pending = PendingLogin.new()
    assert 43 <= len(pending.verifier) <= 128
    digest = hashlib.sha256(pending.verifier.encode()).digest()
    assert pkce_challenge(pending.verifier) == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_a_good_id_token_is_accepted(keys: tuple[rsa.RSAPrivateKey, jwt.PyJWKSet]) -> None:
    private, jwks = keys
    claims = verify_id_token(_token(private), jwks, issuer=ISSUER, client_id=CLIENT, nonce="n-1")
    assert claims["sub"] == "alice"


@pytest.mark.parametrize(
    ("overrides", "nonce", "why"),
    [
        ({"nonce": "n-other"}, "n-1", "nonce"),
        ({}, "n-1-of-another-sign-in", "nonce"),
        ({"iss": "https://evil.example.test"}, "n-1", "(?i)issuer"),
        ({"aud": "another-client"}, "n-1", "(?i)audience"),
        ({"exp": int(time.time()) - 3600}, "n-1", "(?i)expired"),
        ({"aud": [CLIENT, "other"], "azp": "other"}, "n-1", "another client"),
    ],
)
def test_a_wrong_id_token_is_refused(
    keys: tuple[rsa.RSAPrivateKey, jwt.PyJWKSet], overrides: dict[str, Any], nonce: str, why: str
) -> None:
    private, jwks = keys
    with pytest.raises(SignInFailed, match=why):
        verify_id_token(
            _token(private, **overrides), jwks, issuer=ISSUER, client_id=CLIENT, nonce=nonce
        )


def test_a_token_signed_by_another_key_is_refused(
    keys: tuple[rsa.RSAPrivateKey, jwt.PyJWKSet],
) -> None:
    _, jwks = keys
    forger, _ = _keypair("k1")  # same kid, different key
    with pytest.raises(SignInFailed, match="Signature verification failed"):
        verify_id_token(_token(forger), jwks, issuer=ISSUER, client_id=CLIENT, nonce="n-1")
    with pytest.raises(SignInFailed):
        unsigned = jwt.encode({"iss": ISSUER, "aud": CLIENT, "sub": "x"}, None, algorithm="none")
        verify_id_token(unsigned, jwks, issuer=ISSUER, client_id=CLIENT, nonce="n-1")


def test_group_claim_maps_to_admin() -> None:
    admins = ["ragserve-admins"]
    alice = identity_from_claims(
        {"sub": "a", "name": "Alice", "groups": ["eng", "ragserve-admins"]}, "groups", admins
    )
    bob = identity_from_claims({"sub": "b", "email": "bob@x", "roles": "hr"}, "roles", admins)
    assert (alice.name, alice.admin, alice.groups) == ("Alice", True, ("eng", "ragserve-admins"))
    assert (bob.name, bob.admin, bob.groups) == ("bob@x", False, ("hr",))


@pytest.mark.parametrize("path", ["//evil.example", "https://evil.example/", "\\\\evil", "x"])
def test_return_path_stays_on_this_site(path: str) -> None:
    assert safe_return_path(path) == "/"
    assert safe_return_path("/#/collections") == "/#/collections"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database.in_dir(tmp_path)


class _Directory:
    async def principal_for_user(self, user_id: int) -> None:
        return None

    async def upsert_sso_user(self, *args: object) -> Principal:
        raise AssertionError("a refused sign-in must not create a user")


@pytest.mark.anyio
async def test_state_mismatch_and_reuse_are_refused(db: Database) -> None:
    settings = Settings(oidc_issuer=ISSUER, oidc_client_id=CLIENT)
    store = SessionStore(SessionRepository(db), timedelta(hours=1), timedelta(minutes=5))
    auth = AuthServing(settings, store, _Directory())
    pending = PendingLogin.new("/#/keys")
    store.repo.add_login(
        OidcLoginRow(
            state_hash=digest(pending.state),
            nonce=pending.nonce,
            verifier=pending.verifier,
            return_to=pending.return_to,
            expires_at=utcnow() + timedelta(minutes=5),
        )
    )
    base = "http://127.0.0.1:1"
    # The state came back to a browser that did not start this sign-in.
    with pytest.raises(SignInFailed, match="not started in this browser"):
        await auth.finish("code", pending.state, "another-state", base)
    with pytest.raises(SignInFailed, match="not started in this browser"):
        await auth.finish("code", pending.state, None, base)
    # A state nobody issued, even pinned in the cookie.
    with pytest.raises(SignInFailed, match="unknown, used or expired"):
        await auth.finish("code", "forged", "forged", base)
    await auth.aclose()
    db.close()


def test_sessions_end_at_expiry_idle_and_logout(db: Database) -> None:
    with db.session() as s:
        s.add_all([UserRow(id=7, name="seven"), UserRow(id=8, name="eight")])
    repo = SessionRepository(db)
    store = SessionStore(repo, max_age=timedelta(hours=1), idle=timedelta(minutes=5))
    new = store.create(7, None)
    row = store.resolve(new.id)
    assert row is not None and row.user_id == 7
    assert csrf_matches(row, new.csrf) and not csrf_matches(row, "guess")
    assert not csrf_matches(row, None)
    assert store.resolve("not-a-session") is None
    # Idle past the limit: gone, and deleted.
    repo.touch(digest(new.id), utcnow() - timedelta(minutes=6))
    assert store.resolve(new.id) is None
    assert repo.get(digest(new.id)) is None
    # Past the absolute expiry, however recently used.
    short = SessionStore(repo, max_age=timedelta(seconds=-1), idle=timedelta(minutes=5))
    assert short.resolve(short.create(7, None).id) is None
    # Logout.
    third = store.create(8, "id-token")
    ended = store.end(third.id)
    assert ended is not None and ended.id_token == "id-token"
    assert store.resolve(third.id) is None
    db.close()
