"""Sealed credentials of external sources (no database needed)."""

from __future__ import annotations

import uuid

import pytest

from storage.external.credentials import CredentialBox, CredentialsError


def test_credentials_open_only_with_the_key_and_on_their_own_row() -> None:
    box = CredentialBox.from_secret("one secret long enough to derive a key from")
    owner = uuid.uuid4()
    sealed = box.seal({"password": "pw", "headers": {"X-Key": "k"}}, owner)
    assert b"pw" not in sealed and box.open(sealed, owner) == {"password": "pw", "headers": {"X-Key": "k"}}
    with pytest.raises(CredentialsError):
        box.open(sealed, uuid.uuid4())  # copied onto another source's row
    with pytest.raises(CredentialsError):
        CredentialBox.from_secret("another secret entirely, also long enough").open(sealed, owner)
    with pytest.raises(CredentialsError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), owner)
