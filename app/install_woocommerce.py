"""Connect a WooCommerce store: redirect to its key-generation page, receive the keys, set up.

``GET /install/woocommerce?store_url=…`` checks the URL (https, a public address: see
:mod:`stammkunde.plugins.netguard`), records a single-use nonce (expires after 30 minutes) and
redirects to the store's ``/wc-auth/v1/authorize``. A store that is already connected is only
offered to a browser signed in to that very shop's dashboard (a reconnect); anyone else gets 403
and nothing is stored. When the merchant approves, the store POSTs the keys as JSON to
``/install/woocommerce/callback`` with the nonce as ``user_id``. Keys for an unknown, expired or
used nonce are refused; so are keys the store itself does not accept: before anything is stored,
the keys must pass an authenticated read (``GET orders``) against the store URL recorded with the
nonce. A refused callback stores nothing and leaves the nonce as it was (WooCommerce then deletes
the key it made). Accepted keys are stored encrypted, the shop's dashboard sessions end (a
reconnect signs every other browser out), the webhooks are created with a fresh secret, and
the historic sync is scheduled. WooCommerce finally sends the browser to
``/install/woocommerce/return?success=1&user_id=<nonce>``; when that browser is the one that
started the installation (its session holds the nonce), it is signed in to the new shop's
dashboard (:func:`stammkunde.app.dashboard.auth.login_shop`) and lands on its overview.
The app's public URL comes from the ``PUBLIC_URL`` config (WooCommerce requires the callback
to be https), else from the request.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import Blueprint, Response, current_app, redirect, request, url_for
from flask import session as browser
from sqlalchemy import select

from stammkunde.app.dashboard.auth import login_shop, session_shop
from stammkunde.app.jobs import schedule_sync
from stammkunde.app.web import app_context
from stammkunde.core.errors import UserError
from stammkunde.core.installs import (
    completed_install,
    consume_nonce,
    issue_nonce,
    pending_install,
    purge_nonces,
)
from stammkunde.core.models import InstallNonce, Shop
from stammkunde.core.shops import create_shop, credentials, set_credentials
from stammkunde.plugins.ingest import connection_for
from stammkunde.plugins.netguard import AddressRefused, check_url
from stammkunde.plugins.woocommerce.adapter import new_webhook_secret
from stammkunde.plugins.woocommerce.client import ClientOptions, WooClient
from stammkunde.plugins.woocommerce.store_url import (
    authorize_url,
    http_allowed,
    normalize_store_url,
    shop_name_for,
)

PLATFORM = "woocommerce"
bp = Blueprint("install_woocommerce", __name__, url_prefix="/install/woocommerce")
log = logging.getLogger(__name__)


def _public_url() -> str:
    return (current_app.config.get("PUBLIC_URL") or request.url_root).rstrip("/")


def _refuse(message: str, status: int) -> tuple[dict[str, str], int]:
    return {"error": message}, status


@bp.get("/", strict_slashes=False)
def start() -> Any:
    """Send the merchant to the store's page that grants the app read/write API keys."""
    try:
        store_url = normalize_store_url(request.args.get("store_url"),
                                        allow_http=http_allowed())
    except UserError as exc:
        return _refuse(str(exc), 400)
    try:  # before any row or connection: no internal addresses (one generic answer)
        check_url(store_url)
    except AddressRefused as exc:
        return _refuse(str(exc), 400)
    ctx = app_context(current_app)
    with ctx.sessions() as session, session.begin():
        purge_nonces(session)
        existing = session.scalar(select(Shop).where(Shop.platform == PLATFORM,
                                                     Shop.domain == store_url))
        if existing is not None and session_shop() != existing.name:
            log.warning("refused to reconnect an installed WooCommerce store without its session")
            return _refuse("this store is already connected; sign in to its dashboard and "
                           "reconnect from there", 403)
        nonce = issue_nonce(session, PLATFORM, store_url,
                            shop_name=request.args.get("shop") or shop_name_for(store_url),
                            rebind_shop_id=existing.id if existing is not None else None)
    browser["install_nonce"] = nonce  # the browser that returns with it may open the dashboard
    base = _public_url()
    return redirect(authorize_url(store_url, nonce=nonce,
                                  return_url=f"{base}/install/woocommerce/return",
                                  callback_url=f"{base}/install/woocommerce/callback"), 302)


@bp.post("/callback")
def callback() -> Any:
    """Accept the keys the store posts for a pending nonce, store them, and set the shop up."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        return _refuse("expected a JSON object", 400)
    nonce = str(data.get("user_id") or "")
    key = str(data.get("consumer_key") or "").strip()
    secret = str(data.get("consumer_secret") or "").strip()
    if not (key.startswith("ck_") and secret.startswith("cs_")):
        return _refuse("consumer_key and consumer_secret are missing or malformed", 400)
    if data.get("key_permissions") != "read_write":
        return _refuse("the key must have read_write permission", 400)
    ctx = app_context(current_app)
    with ctx.sessions() as session:
        pending = pending_install(session, PLATFORM, nonce)
    if pending is None:
        log.warning("refused WooCommerce keys for an unknown, expired or used nonce")
        return _refuse("unknown, expired or already used installation request", 403)
    try:  # the store itself must accept the keys before anything is stored
        _verify_keys(pending.store_url, key, secret)
    except AddressRefused as exc:
        return _refuse(str(exc), 403)
    except UserError as exc:
        log.warning("refused WooCommerce keys the store does not accept: %s", exc)
        return _refuse("the store did not accept these keys", 403)
    with ctx.sessions() as session, session.begin():
        pending = consume_nonce(session, PLATFORM, nonce)
        if pending is None:  # used by a concurrent callback meanwhile
            return _refuse("unknown, expired or already used installation request", 403)
        try:
            shop = _save_shop(session, pending, key, secret, str(data.get("key_id") or ""),
                              ctx.settings.secret_key)
        except _RebindRefused:
            session.rollback()
            log.warning("refused WooCommerce keys that would rebind an installed store")
            return _refuse("this store is already connected; sign in to its dashboard and "
                           "reconnect from there", 403)
        shop_name = shop.name
        conn = connection_for(shop, ctx.settings.secret_key)
    adapter = ctx.plugins.platform(PLATFORM)
    # The store waits (60 s) for this answer, so webhook creation gets a short fuse.
    quick = dataclasses.replace(conn, options={**conn.options, "timeout": 10, "max_retries": 1,
                                               "requests_per_second": 0})
    with ctx.sessions() as session, session.begin():  # the hourly check repairs this URL's hooks
        row = session.scalar(select(Shop).where(Shop.name == shop_name))
        row.settings = {**(row.settings or {}), "webhook_base_url": _public_url()}  # type: ignore[union-attr]
    try:
        adapter.subscribe_webhooks(quick, _public_url())
    except UserError as exc:
        # The keys are stored; the merchant can retry webhooks later. WooCommerce deletes the
        # key unless this answer is 200, so a webhook problem must not fail the callback.
        log.warning("webhooks for shop %s not created: %s", shop_name, exc)
        with ctx.sessions() as session, session.begin():
            row = session.scalar(select(Shop).where(Shop.name == shop_name))
            row.settings = {**(row.settings or {}), "webhooks_error": str(exc)}  # type: ignore[union-attr]
    current_app.config.get("SCHEDULE_SYNC", schedule_sync)(shop_name, ctx)
    return {"status": "ok", "shop": shop_name}, 200


class _RebindRefused(Exception):
    """The keys are for a store that is connected, and the install was not its reconnect."""


def _verify_keys(store_url: str, key: str, secret: str) -> None:
    """Raise unless the store answers an authenticated read with these keys (one quick try)."""
    options = ClientOptions(requests_per_second=None, timeout=10, max_retries=0,
                            verify=True)
    WooClient(store_url, key, secret, options).request("GET", "orders", {"per_page": 1})


def _save_shop(session: Any, pending: InstallNonce, key: str, secret: str,
               key_id: str, secret_key: str | None) -> Shop:
    store_url, name = pending.store_url, pending.shop_name
    settings = {"url": store_url}
    if store_url.startswith("http://"):
        settings["allow_http"] = "1"
    shop = session.scalar(select(Shop).where(Shop.platform == PLATFORM,
                                             Shop.domain == store_url))
    if shop is not None and pending.rebind_shop_id != shop.id:
        raise _RebindRefused
    if shop is not None:  # reconnecting: keep the webhook secret existing webhooks sign with
        old = credentials(shop, secret_key)
        set_credentials(shop, {"consumer_key": key, "consumer_secret": secret, "key_id": key_id,
                               "webhook_secret": old.get("webhook_secret")
                               or new_webhook_secret()}, secret_key)
        shop.settings = {**(shop.settings or {}), **settings}
        shop.uninstalled_at = None
        return shop
    name = name or shop_name_for(store_url)
    taken = set(session.scalars(select(Shop.name).where(Shop.name.startswith(name))))
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name[:95]}-{n}"
    return create_shop(session, unique, PLATFORM, domain=store_url, secret_key=secret_key,
                       settings=settings,
                       credentials={"consumer_key": key, "consumer_secret": secret,
                                    "key_id": key_id, "webhook_secret": new_webhook_secret()})


@bp.get("/return")
def finished() -> Response:
    """Open the new shop's dashboard for the browser that started the install, or explain."""
    ok = request.args.get("success") == "1"
    nonce = str(request.args.get("user_id") or "")
    if ok and nonce and browser.get("install_nonce") == nonce:
        ctx = app_context(current_app)
        with ctx.sessions() as db:
            pending = completed_install(db, PLATFORM, nonce)
            name = None if pending is None else db.scalar(
                select(Shop.name).where(Shop.platform == PLATFORM,
                                        Shop.domain == pending.store_url))
        if name is not None:
            login_shop(name)
            return redirect(url_for("dashboard.overview", name=name), 302)  # type: ignore[return-value]
    text = ("Your WooCommerce store is connected. Stammkunde is importing your orders now."
            if ok else "The store was not connected (access was denied). You can start again.")
    return Response(f"<!doctype html><title>Stammkunde</title><p>{text}</p>",
                    status=200 if ok else 400, mimetype="text/html")
