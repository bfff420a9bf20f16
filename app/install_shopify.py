"""Install the public Shopify app: OAuth authorize redirect, callback, token, webhooks, sync.

``GET /install/shopify?shop=name.myshopify.com`` checks the domain, stores a single-use state
nonce (10 minutes) and redirects to the shop's authorize page with the app's scopes.
``GET /install/shopify/callback`` accepts only a query whose ``hmac`` is valid for the app secret,
whose ``state`` is a pending nonce for that very shop, and a ``*.myshopify.com`` shop; anything else
is refused and nothing is stored. It then trades the code for an offline token, stores it
encrypted (``STAMMKUNDE_SECRET_KEY``), subscribes the webhooks, records ``sync_requested_at`` on
the shop and calls ``schedule_sync`` (config ``SCHEDULE_SYNC`` replaces it, e.g. in tests).
The browser that started the install (its session holds the state) is signed in to the new
shop's dashboard and lands on its overview; any other goes to the app in the Shopify admin.
App credentials: ``STAMMKUNDE_SHOPIFY_API_KEY`` / ``STAMMKUNDE_SHOPIFY_API_SECRET`` (or the same
keys in the Flask config). The app's public URL is ``PUBLIC_URL`` in the config, else the request's.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, redirect, request, url_for
from flask import session as browser
from sqlalchemy import select

from stammkunde.app.dashboard.auth import login_shop
from stammkunde.app.jobs import schedule_sync
from stammkunde.app.web import app_context
from stammkunde.core.errors import UserError
from stammkunde.core.installs import consume_nonce, issue_nonce, purge_nonces
from stammkunde.core.models import Shop
from stammkunde.core.shops import create_shop, set_credentials
from stammkunde.core.timeutil import now
from stammkunde.plugins.adapter import InstallRejected, ShopSetup
from stammkunde.plugins.ingest import connection_for

PLATFORM = "shopify"
STATE_TTL = timedelta(minutes=10)
bp = Blueprint("install_shopify", __name__, url_prefix="/install/shopify")
log = logging.getLogger(__name__)


def _app_credentials() -> tuple[str, str] | None:
    key = current_app.config.get("STAMMKUNDE_SHOPIFY_API_KEY") or \
        os.environ.get("STAMMKUNDE_SHOPIFY_API_KEY")
    secret = current_app.config.get("STAMMKUNDE_SHOPIFY_API_SECRET") or \
        os.environ.get("STAMMKUNDE_SHOPIFY_API_SECRET")
    return (key, secret) if key and secret else None


def _public_url() -> str:
    return (current_app.config.get("PUBLIC_URL") or request.url_root).rstrip("/")


class _StateRefused(Exception):
    """The callback's state is not a pending nonce of this shop."""


def _refuse(message: str, status: int) -> tuple[dict[str, str], int]:
    return {"error": message}, status


@bp.get("/", strict_slashes=False)
def start() -> Any:
    """Send the merchant to Shopify's page that grants the app its scopes."""
    creds = _app_credentials()
    if creds is None:
        return _refuse("the Shopify app is not configured (STAMMKUNDE_SHOPIFY_API_KEY/SECRET)",
                       503)
    ctx = app_context(current_app)
    adapter = ctx.plugins.platform(PLATFORM)
    redirect_uri = f"{_public_url()}/install/shopify/callback"
    domain = request.args.get("shop", "").strip().lower()
    try:  # the adapter refuses a domain that is not name.myshopify.com; then nothing is stored
        with ctx.sessions() as session, session.begin():
            purge_nonces(session)
            nonce = issue_nonce(session, PLATFORM, domain, ttl=STATE_TTL)
            url = adapter.install_url(domain, redirect_uri, nonce, creds[0])
    except InstallRejected as exc:
        return _refuse(str(exc), 400)
    browser["install_nonce"] = nonce  # the browser that comes back with it opens the dashboard
    return redirect(url, 302)


@bp.get("/callback")
def callback() -> Any:
    """Verify the callback, exchange the code, store the token, subscribe webhooks, sync."""
    creds = _app_credentials()
    if creds is None:
        return _refuse("the Shopify app is not configured", 503)
    api_key, api_secret = creds
    ctx = app_context(current_app)
    adapter = ctx.plugins.platform(PLATFORM)
    query = {k: v for k, v in request.args.items()}
    try:
        domain = adapter.verify_install_query(query, api_secret)
    except InstallRejected as exc:
        log.warning("refused a Shopify install callback: %s", exc)
        return _refuse(str(exc), 401)
    try:  # the state must be pending, in time, and issued for this very shop
        with ctx.sessions() as session, session.begin():
            pending = consume_nonce(session, PLATFORM, query.get("state", ""))
            if pending is None or pending.store_url != domain:
                raise _StateRefused
    except _StateRefused:  # rolled back: a state issued for another shop stays unused
        log.warning("refused a Shopify install callback with an unknown or used state")
        return _refuse("unknown, expired or already used install state", 403)
    try:
        setup = adapter.exchange_install_code(domain, query.get("code", ""), api_key, api_secret)
    except InstallRejected as exc:
        return _refuse(str(exc), 502)
    with ctx.sessions() as session, session.begin():
        shop = _save_shop(session, domain, setup, ctx.settings.secret_key)
        shop_name = shop.name
        conn = connection_for(shop, ctx.settings.secret_key)
    # the hourly webhook check repairs subscriptions to the URL they were made for
    _note(shop_name, {"webhook_base_url": _public_url()})
    try:
        adapter.subscribe_webhooks(conn, _public_url())
    except UserError as exc:  # the token is stored; webhooks can be subscribed again later
        log.warning("webhooks for shop %s not subscribed: %s", shop_name, exc)
        _note(shop_name, {"webhooks_error": str(exc)})
    current_app.config.get("SCHEDULE_SYNC", schedule_sync)(shop_name, ctx)
    if browser.get("install_nonce") == query.get("state"):
        login_shop(shop_name)  # the merchant who started the install lands on the overview
        return redirect(url_for("dashboard.overview", name=shop_name), 302)
    return redirect(f"https://{domain}/admin/apps/{api_key}", 302)


def _note(shop_name: str, values: dict[str, Any]) -> None:
    ctx = app_context(current_app)
    with ctx.sessions() as session, session.begin():
        row = session.scalar(select(Shop).where(Shop.name == shop_name))
        if row is not None:
            row.settings = {**(row.settings or {}), **values}


def _save_shop(session: Any, domain: str, setup: ShopSetup, secret_key: str | None) -> Shop:
    """Create the shop or, on a reinstall, replace its token; mark the historic sync wanted."""
    settings = {**setup.settings, "sync_requested_at": now().isoformat()}
    shop = session.scalar(select(Shop).where(Shop.platform == PLATFORM, Shop.domain == domain))
    if shop is not None:
        set_credentials(shop, dict(setup.credentials), secret_key)
        shop.settings = {**(shop.settings or {}), **settings}
        shop.uninstalled_at = None
        shop.installed_at = now()
        return shop
    name = domain.removesuffix(".myshopify.com")
    taken = set(session.scalars(select(Shop.name).where(Shop.name.startswith(name))))
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name[:95]}-{n}"
    return create_shop(session, unique, PLATFORM, domain=domain, credentials=setup.credentials,
                       secret_key=secret_key, settings=settings)
