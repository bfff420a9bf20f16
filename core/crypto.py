"""Credentials at rest: Fernet encryption with a key derived from ``STAMMKUNDE_SECRET_KEY``."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken

from stammkunde.core.errors import UserError


def _fernet(secret_key: str | None) -> Fernet:
    if not secret_key:
        raise UserError("STAMMKUNDE_SECRET_KEY is not set; it is needed to store credentials")
    digest = hashlib.sha256(b"stammkunde-credentials\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_json(data: dict[str, str], secret_key: str | None) -> bytes:
    """Encrypt a dict of credentials for storage."""
    return _fernet(secret_key).encrypt(json.dumps(data, sort_keys=True).encode())


def decrypt_json(token: bytes, secret_key: str | None) -> dict[str, str]:
    """Decrypt stored credentials, or a one-line error when the key is wrong."""
    try:
        return json.loads(_fernet(secret_key).decrypt(token))
    except InvalidToken as exc:
        raise UserError(
            "stored credentials cannot be decrypted: wrong STAMMKUNDE_SECRET_KEY?"
        ) from exc
