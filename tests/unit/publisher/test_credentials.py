"""Credentials at rest: encryption, key rotation, and the refresh-token merge rule."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from services.publisher.credentials import CredentialBox, CredentialsError, merge_credentials


def test_encrypts_without_plain_text_and_round_trips() -> None:
    box = CredentialBox(Fernet.generate_key().decode())
    token = box.encrypt({"access_token": "abc-secret", "refresh_token": "rt"})
    assert token is not None and b"abc-secret" not in token
    assert box.decrypt(token) == {"access_token": "abc-secret", "refresh_token": "rt"}
    assert box.encrypt({}) is None and box.decrypt(None) == {}


def test_rotation_first_key_encrypts_all_decrypt() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialBox(old).encrypt({"t": 1})
    both = CredentialBox(f"{new},{old}")
    assert both.decrypt(token) == {"t": 1}
    rotated = both.rotate(token)
    assert CredentialBox(new).decrypt(rotated) == {"t": 1}  # old key can now be dropped
    with pytest.raises(CredentialsError):
        CredentialBox(old).decrypt(rotated)
    with pytest.raises(CredentialsError):
        CredentialBox("not-a-key")


@pytest.mark.parametrize("empty", [None, "", {}])
def test_refresh_never_blanks_the_refresh_token(empty: object) -> None:
    old = {"access_token": "a1", "refresh_token": "r1", "scope": "write"}
    new = {"access_token": "a2", "refresh_token": empty}
    assert merge_credentials(old, new) == {
        "access_token": "a2",
        "refresh_token": "r1",
        "scope": "write",
    }
    assert merge_credentials(old, {"access_token": "a2"})["refresh_token"] == "r1"
    assert merge_credentials(old, {"refresh_token": "r2"})["refresh_token"] == "r2"
