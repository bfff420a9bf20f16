"""The unsubscribe link of offer e-mails: ``/unsubscribe/<token>``, no sign-in needed.

``GET`` shows a page with one button (mail scanners follow links, so a GET changes nothing);
``POST`` records the opt-out, from that button or from a mail client's one-click unsubscribe
(RFC 8058: ``List-Unsubscribe=One-Click`` in the body). The signed token is the only credential:
a forged or altered token gets 404 and stores nothing. Every later campaign of the shop skips
the person (:mod:`stammkunde.core.optouts`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from stammkunde.core.models import Customer, Shop
from stammkunde.core.optouts import is_opted_out, record_optout
from stammkunde.plugins.channels import language
from stammkunde.plugins.email.unsubscribe import Unsubscribe, read_token

bp = Blueprint("unsubscribe", __name__)


@bp.after_request
def _headers(response: Any) -> Any:
    # the token in the URL must not leak to other sites through the Referer header
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _context() -> Any:
    return current_app.extensions["stammkunde"]


def _read(token: str) -> Unsubscribe:
    found = read_token(_context().settings.secret_key, token)
    if found is None:
        abort(404)
    return found


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """Ask (GET) or record (POST) that the person wants no more offers from the shop."""
    who = _read(token)
    ctx = _context()
    with ctx.sessions() as session:
        shop = session.get(Shop, who.shop_id)
        if shop is None:
            abort(404)
        locale = session.scalar(select(Customer.locale).where(
            Customer.shop_id == shop.id, Customer.person_id == who.person_id).limit(1))
        done = is_opted_out(session, shop.id, who.person_id)
        if request.method == "POST" and not done:
            one_click = request.form.get("List-Unsubscribe") == "One-Click"
            try:
                record_optout(session, shop.id, who.person_id, who.campaign_id,
                              "one-click" if one_click else "link")
                session.commit()
            except IntegrityError:  # the same link clicked twice at once: already recorded
                session.rollback()
            done = True
        shop_name, lang = shop.name, language(locale, shop.locale)
    with force_locale(lang):
        return render_template("dashboard/unsubscribe.html", shop_name=shop_name, done=done,
                               token=token, lang=lang)
