"""Credentials at rest: Fernet encryption with keys derived from ``STAMMKUNDE_SECRET_KEY``.

Key rotation: the new key goes into ``STAMMKUNDE_SECRET_KEY`` and the old ones, comma-separated,
into ``STAMMKUNDE_SECRET_KEY_PREVIOUS``. Stored credentials are then read with any of the keys
(:class:`~cryptography.fernet.MultiFernet`) and written with the new one; ``stammkunde keys
rotate`` re-encrypts every stored credential with the new key (:func:`rotate_token`), after which
the previous keys can be dropped. The same list signs and verifies session cookies and login
links (the newest signs).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from stammkunde.core.errors import UserError


class SecretKey(str):
    """The current secret key (the string itself) and the previous ones, still accepted."""

    previous: tuple[str, ...]

    def __new__(cls, current: str, previous: Sequence[str] = ()) -> SecretKey:
        """Make a key that also knows its predecessors."""
        key = super().__new__(cls, current)
        key.previous = tuple(p for p in previous if p and p != current)
        return key


def secret_key_from(current: str | None, previous: str | None) -> SecretKey | None:
    """Build the key from ``STAMMKUNDE_SECRET_KEY`` and ``STAMMKUNDE_SECRET_KEY_PREVIOUS``."""
    if not current:
        return None
    return SecretKey(current, [p.strip() for p in (previous or "").split(",") if p.strip()])


def all_keys(secret_key: str | None) -> list[str]:
    """Return the current key followed by the previous ones (empty when no key is set)."""
    if not secret_key:
        return []
    return [str(secret_key), *getattr(secret_key, "previous", ())]


def _one(secret: str) -> Fernet:
    digest = hashlib.sha256(b"stammkunde-credentials\0" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet(secret_key: str | None) -> MultiFernet:
    keys = all_keys(secret_key)
    if not keys:
        raise UserError("STAMMKUNDE_SECRET_KEY is not set; it is needed to store credentials")
    return MultiFernet([_one(k) for k in keys])


def encrypt_json(data: dict[str, str], secret_key: str | None) -> bytes:
    """Encrypt a dict of credentials for storage (with the current key)."""
    return _fernet(secret_key).encrypt(json.dumps(data, sort_keys=True).encode())


def decrypt_json(token: bytes, secret_key: str | None) -> dict[str, str]:
    """Decrypt stored credentials (current or a previous key), or a one-line error."""
    try:
        return json.loads(_fernet(secret_key).decrypt(token))
    except InvalidToken as exc:
        raise UserError(
            "stored credentials cannot be decrypted: wrong STAMMKUNDE_SECRET_KEY?"
        ) from exc


def rotate_token(token: bytes, secret_key: str | None) -> bytes:
    """Re-encrypt stored credentials with the current key (read with any known key)."""
    try:
        return _fernet(secret_key).rotate(token)
    except InvalidToken as exc:
        raise UserError(
            "stored credentials cannot be decrypted with STAMMKUNDE_SECRET_KEY or "
            "STAMMKUNDE_SECRET_KEY_PREVIOUS"
        ) from exc
