"""Backend API keys encrypted at rest with Fernet, keyed by ``RAGSERVE_SECRET_KEY``.

Sealed values are stored as ``fernet:<token>``; without a secret key values are stored as
given (as before), and the server says so at startup. A sealed value read without the key
(or with another one) opens to None: the backend then has no key and fails, rather than the
server sending a ciphertext as a key.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

SEALED = "fernet:"


class SecretBox:
    def __init__(self, secret: str | None) -> None:
        # Any string works as RAGSERVE_SECRET_KEY: it is stretched to Fernet's 32-byte key.
        self._fernet = (
            None
            if not secret
            else Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))
        )

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str | None) -> str | None:
        if value is None or self._fernet is None or value.startswith(SEALED):
            return value
        return SEALED + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        if value is None or not value.startswith(SEALED):
            return value
        if self._fernet is None:
            log.error("a stored backend key is encrypted but RAGSERVE_SECRET_KEY is not set")
            return None
        try:
            return self._fernet.decrypt(value[len(SEALED) :].encode()).decode()
        except InvalidToken:
            log.error("a stored backend key does not open with this RAGSERVE_SECRET_KEY")
            return None
