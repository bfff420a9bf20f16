"""Shops: create, list, and open an adapter connection with decrypted credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from stammkunde.core.access import revoke_shop_sessions
from stammkunde.core.crypto import decrypt_json, encrypt_json, rotate_token
from stammkunde.core.errors import UserError
from stammkunde.core.models import Shop
from stammkunde.core.timeutil import now, zone

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def create_shop(
    session: Session,
    name: str,
    platform: str,
    *,
    domain: str | None = None,
    currency: str = "EUR",
    timezone: str = "UTC",
    locale: str | None = None,
    credentials: Mapping[str, str] | None = None,
    secret_key: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Shop:
    """Add a shop; refuses a taken name, a bad currency or an unknown time zone."""
    if not NAME.match(name):
        raise UserError(f"invalid shop name {name!r} (letters, digits, '.', '_', '-')")
    if session.scalar(select(Shop.id).where(Shop.name == name)) is not None:
        raise UserError(f"shop {name!r} already exists")
    currency = currency.upper()
    if len(currency) != 3 or not currency.isalpha():
        raise UserError(f"currency must be a 3-letter ISO code, not {currency!r}")
    zone(timezone)
    shop = Shop(
        name=name, platform=platform, domain=domain, currency=currency, timezone=timezone,
        locale=locale, settings=dict(settings or {}), installed_at=now(),
    )
    if credentials:
        shop.credentials = encrypt_json(dict(credentials), secret_key)
    session.add(shop)
    session.flush()
    return shop


def set_credentials(shop: Shop, credentials: Mapping[str, str], secret_key: str | None) -> None:
    """Replace a shop's stored credentials (encrypted); its dashboard sessions end."""
    shop.credentials = encrypt_json(dict(credentials), secret_key)
    session = object_session(shop)
    if session is not None and shop.id is not None:  # a reconnect: old browsers sign in again
        revoke_shop_sessions(session, shop.id)


def credentials(shop: Shop, secret_key: str | None) -> dict[str, str]:
    """Return a shop's decrypted credentials (empty when none are stored)."""
    return decrypt_json(shop.credentials, secret_key) if shop.credentials else {}


def rotate_credentials(session: Session, secret_key: str | None) -> int:
    """Re-encrypt every shop's credentials with the current key; return how many shops.

    All or nothing: a credential no known key opens is named and nothing is changed.
    """
    shops = list(session.scalars(select(Shop).where(Shop.credentials.is_not(None))
                                 .order_by(Shop.name)))
    rotated, broken = {}, []
    for shop in shops:
        try:
            rotated[shop.id] = rotate_token(shop.credentials or b"", secret_key)
        except UserError:
            broken.append(shop.name)
    if broken:
        raise UserError(f"credentials of {len(broken)} shop(s) cannot be decrypted with "
                        f"STAMMKUNDE_SECRET_KEY or STAMMKUNDE_SECRET_KEY_PREVIOUS: "
                        f"{', '.join(broken[:10])}; nothing was changed")
    for shop in shops:
        shop.credentials = rotated[shop.id]
    return len(shops)


def undecryptable_shops(session: Session, secret_key: str | None) -> list[str]:
    """Return the names of shops whose stored credentials no known key opens."""
    broken = []
    for name, token in session.execute(select(Shop.name, Shop.credentials)
                                       .where(Shop.credentials.is_not(None))):
        try:
            decrypt_json(token, secret_key)
        except UserError:
            broken.append(name)
    return broken


def normalize_domain(domain: str | None) -> str:
    """Return a shop domain in its match form: lower case, no scheme, no trailing slash."""
    value = (domain or "").strip().lower()
    for scheme in ("https://", "http://"):
        if value.startswith(scheme):
            value = value[len(scheme):]
    return value.rstrip("/")


def list_shops(session: Session) -> list[Shop]:
    """Return all shops by name."""
    return list(session.scalars(select(Shop).order_by(Shop.name)))
