"""Who may see a shop's dashboard: a session bound to exactly one shop.

A session starts either after the OAuth install (the install blueprints call :func:`login_shop`)
or from a signed, short-lived, single-use login link (``stammkunde dashboard-link SHOP``). Every
dashboard route checks that the shop in the URL is the session's shop and answers 403 otherwise.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, g, session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from stammkunde.core.errors import UserError
from stammkunde.core.job_models import SpentLogin

SESSION_KEY = "shop"
LOGIN_SALT = "stammkunde.dashboard.login"
DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(days=7)
F = TypeVar("F", bound=Callable[..., Any])


class LinkRefused(UserError):
    """A login link that is forged, expired or already used."""


def login_shop(shop_name: str) -> None:
    """Start a dashboard session bound to this shop (call after a verified install or login)."""
    session.clear()
    session[SESSION_KEY] = shop_name
    session.permanent = True


def logout() -> None:
    """End the dashboard session (the language choice goes too)."""
    session.clear()


def session_shop() -> str | None:
    """Return the name of the shop this session is bound to, if any."""
    value = session.get(SESSION_KEY)
    return value if isinstance(value, str) else None


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    if not secret_key:
        raise UserError("STAMMKUNDE_SECRET_KEY is not set: it signs dashboard login links")
    return URLSafeTimedSerializer(secret_key, salt=LOGIN_SALT)


def make_login_token(secret_key: str, shop_name: str, ttl: timedelta = DEFAULT_TTL) -> str:
    """Return a signed token that logs into the shop's dashboard once, within ``ttl``."""
    seconds = int(ttl.total_seconds())
    if not 0 < seconds <= MAX_TTL.total_seconds():
        raise UserError("a login link lives between 1 second and 7 days")
    return _serializer(secret_key).dumps(
        {"shop": shop_name, "nonce": secrets.token_urlsafe(16), "ttl": seconds})


def parse_ttl(text: str) -> timedelta:
    """Parse a lifetime such as ``15m``, ``2h``, ``1d`` or ``900s``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UserError(f"--ttl must look like 15m, 2h, 1d or 900s, not {text!r}")
    unit = {"s": "seconds", "": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    return timedelta(**{unit[match.group(2)]: int(match.group(1))})


def redeem_login_token(secret_key: str, token: str, sessions: Any,
                       clock: Callable[[], float] = time.time) -> str:
    """Check a login token (signature, age within its lifetime, unused) and return its shop."""
    serializer = _serializer(secret_key)
    try:
        data, signed_at = serializer.loads(token, return_timestamp=True)
    except BadSignature as exc:
        raise LinkRefused("this login link is not valid") from exc
    if (not isinstance(data, dict) or not isinstance(data.get("shop"), str)
            or not isinstance(data.get("ttl"), int) or not data.get("nonce")):
        raise LinkRefused("this login link is not valid")
    ttl = min(data["ttl"], int(MAX_TTL.total_seconds()))
    if clock() - signed_at.timestamp() > ttl:
        raise LinkRefused("this login link has expired: ask for a new one")
    try:
        with sessions() as db, db.begin():
            db.add(SpentLogin(nonce=str(data["nonce"])[:64]))
    except IntegrityError as exc:
        raise LinkRefused("this login link was already used: ask for a new one") from exc
    return data["shop"]


def shop_required(view: F) -> F:
    """Refuse (403) a request for a shop other than the session's; load the shop into ``g``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name")
        owner = session_shop()
        if owner is None:
            abort(401)
        if name != owner:
            abort(403)
        from stammkunde.app.web import app_context
        from stammkunde.core.store import get_shop

        db = app_context(current_app).sessions()
        g.db = db
        try:
            g.shop = get_shop(db, name)
        except UserError:
            abort(404)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
