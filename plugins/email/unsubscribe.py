"""Signed unsubscribe links: who (shop, person) asked, from which campaign, unforgeable."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from stammkunde.core.errors import UserError

SALT = "stammkunde-unsubscribe"


@dataclass(frozen=True)
class Unsubscribe:
    """What a valid unsubscribe token says."""

    shop_id: int
    person_id: int
    campaign_id: int


def _serializer(secret_key: str | None) -> URLSafeSerializer:
    if not secret_key:
        raise UserError("STAMMKUNDE_SECRET_KEY is not set: it signs the unsubscribe links")
    return URLSafeSerializer(secret_key, salt=SALT)


def make_token(secret_key: str | None, shop_id: int, person_id: int, campaign_id: int) -> str:
    """Return the signed token of an unsubscribe link (it never expires)."""
    return str(_serializer(secret_key).dumps([shop_id, person_id, campaign_id]))


def read_token(secret_key: str | None, token: str) -> Unsubscribe | None:
    """Return what a token says, or None when it is forged, altered or malformed."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if (not isinstance(data, list) or len(data) != 3
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in data)):
        return None
    return Unsubscribe(*data)


def unsubscribe_url(public_url: str, token: str) -> str:
    """Return the link a recipient follows to unsubscribe."""
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"
