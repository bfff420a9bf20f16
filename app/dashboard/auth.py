"""Who may see a shop's dashboard: a session bound to exactly one shop.

A session starts either after the OAuth install (the install blueprints call :func:`login_shop`)
or from a signed, short-lived, single-use login link (``stammkunde dashboard-link SHOP``). Every
dashboard route checks that the shop in the URL is the session's shop and answers 403 otherwise.

Sessions live on the server (:mod:`stammkunde.core.access`): the cookie carries a random token
whose digest must still be in the database on every request, so logout, an uninstall and a
reconnect (new credentials) end a session even in a browser that kept a copy of the cookie.
A session lasts ``PERMANENT_SESSION_LIFETIME`` (``STAMMKUNDE_SESSION_LIFETIME``, default 8 hours;
:func:`session_lifetime`), in the cookie's signature and in the database row alike.
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
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from stammkunde.core.access import DEFAULT_LIFETIME as SERVER_DEFAULT_LIFETIME
from stammkunde.core.access import end_session, session_shop_id, start_session
from stammkunde.core.crypto import all_keys
from stammkunde.core.errors import UserError
from stammkunde.core.job_models import SpentLogin
from stammkunde.core.timeutil import now

SESSION_KEY = "shop"
TOKEN_KEY = "sid"
DEFAULT_LIFETIME = SERVER_DEFAULT_LIFETIME
LOGIN_SALT = "stammkunde.dashboard.login"
DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(days=7)
F = TypeVar("F", bound=Callable[..., Any])


class LinkRefused(UserError):
    """A login link that is forged, expired or already used."""


def session_lifetime() -> timedelta:
    """Return how long a dashboard session lasts (the sign-in page shows it)."""
    return current_app.permanent_session_lifetime


def parse_lifetime(text: str | None) -> timedelta:
    """Read ``STAMMKUNDE_SESSION_LIFETIME`` (``8h``, ``30m``, ``1d``; empty: 8 hours)."""
    if not text or not text.strip():
        return DEFAULT_LIFETIME
    try:
        return parse_ttl(text)
    except UserError as exc:
        raise UserError(f"STAMMKUNDE_SESSION_LIFETIME must look like 8h, 30m or 1d, "
                        f"not {text!r}") from exc


def _sessions() -> Any:
    from stammkunde.app.web import app_context

    return app_context(current_app).sessions


def login_shop(shop_name: str) -> None:
    """Start a dashboard session bound to this shop (call after a verified install or login)."""
    from stammkunde.core.store import get_shop

    with _sessions()() as db, db.begin():
        token = start_session(db, get_shop(db, shop_name).id, session_lifetime())
    session.clear()
    session[SESSION_KEY] = shop_name
    session[TOKEN_KEY] = token
    session.permanent = True
    g.pop("session_shop", None)


def logout() -> None:
    """End the dashboard session on the server and in the browser (the language goes too)."""
    token = session.get(TOKEN_KEY)
    if isinstance(token, str):
        with _sessions()() as db, db.begin():
            end_session(db, token)
    session.clear()
    g.pop("session_shop", None)


def session_shop() -> str | None:
    """Return the name of the shop this session is bound to, if the server still knows it."""
    if "session_shop" in g:
        return g.session_shop  # type: ignore[no-any-return]
    name, token = session.get(SESSION_KEY), session.get(TOKEN_KEY)
    found = None
    if isinstance(name, str) and isinstance(token, str):
        from stammkunde.core.models import Shop

        with _sessions()() as db:
            shop_id = session_shop_id(db, token)
            if shop_id is not None and db.get(Shop, shop_id) is not None \
                    and db.get(Shop, shop_id).name == name:  # type: ignore[union-attr]
                found = name
    g.session_shop = found
    return found


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    if not secret_key:
        raise UserError("STAMMKUNDE_SECRET_KEY is not set: it signs dashboard login links")
    # itsdangerous signs with the last key and accepts all: previous keys verify old links.
    return URLSafeTimedSerializer(list(reversed(all_keys(secret_key))), salt=LOGIN_SALT)


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
            # A spent link is refused by its age after MAX_TTL, so older records can go.
            db.execute(delete(SpentLogin).where(SpentLogin.used_at < now() - MAX_TTL))
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
