"""Credentials of remote sources, encrypted at rest (AES-256-GCM), bound to the row they belong to.

The key comes from the settings (``SURA_EXTERNAL__CREDENTIALS_KEY``) or, when that is unset,
is derived from the token-signing secret. Sealed credentials name their source's id as
associated data, so a ciphertext copied onto another source's row does not open.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
_INFO = b"surasmart external-database credentials v1"


class CredentialsError(Exception):
    """Raised when sealed credentials cannot be opened (another key, or tampered with)."""


class CredentialBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the credentials key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, secret: str) -> CredentialBox:
        """A box whose key is derived from ``secret`` (HKDF-SHA256)."""
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
        return cls(key)

    def seal(self, credentials: dict[str, Any], owner: uuid.UUID) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, json.dumps(credentials).encode(), owner.bytes)

    def open(self, sealed: bytes, owner: uuid.UUID) -> dict[str, Any]:
        try:
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], owner.bytes)
        except InvalidTag as exc:
            raise CredentialsError("the stored credentials cannot be opened with this key") from exc
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise CredentialsError("the stored credentials are not a mapping")
        return value
