"""API keys: ``rsk_<id>_<secret>``, where the secret is 32 random bytes.

The key is shown once; the store keeps its SHA-256 (a 256-bit random secret needs no slow
hash: nothing guessable is hashed) and the ``rsk_<id>`` prefix, so a list can tell keys apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_START = "rsk_"


@dataclass(frozen=True)
class NewKey:
    secret: str  # the whole key: shown to its user once, never stored
    prefix: str
    digest: str


def new_key() -> NewKey:
    prefix = KEY_START + secrets.token_hex(4)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(secret=secret, prefix=prefix, digest=key_digest(secret))


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_user_key(token: str) -> bool:
    return token.startswith(KEY_START) and token.count("_") >= 2
