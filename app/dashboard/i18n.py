"""Languages of the dashboard: German and English, from the session, the shop or the browser.

Numbers, money, percentages and dates are formatted by Babel for the chosen locale, so a German
merchant reads ``1.234,50 €`` and an English one ``€1,234.50``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent
from flask import Flask, g, request, session
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    get_locale,
    get_timezone,
    lazy_gettext,
)

from stammkunde.core.money import cents

LANGUAGES = ("de", "en")
DEFAULT = "en"


def pick_language(choice: str | None, shop_locale: str | None,
                  accept: list[tuple[str, float]] | None = None) -> str:
    """Return ``de`` or ``en``: the choice, else the shop's locale, else the browser's."""
    for candidate in (choice, shop_locale):
        if candidate:
            lang = candidate.replace("-", "_").split("_")[0].lower()
            if lang in LANGUAGES:
                return lang
    for value, _quality in accept or []:
        lang = value.replace("-", "_").split("_")[0].lower()
        if lang in LANGUAGES:
            return lang
    return DEFAULT


def _select_locale() -> str:
    shop = getattr(g, "shop", None)
    accept = list(request.accept_languages) if request else []
    return pick_language(session.get("lang"), getattr(shop, "locale", None), accept)


def _select_timezone() -> str:
    shop = getattr(g, "shop", None)
    return getattr(shop, "timezone", None) or "UTC"


def locale_name() -> str:
    """Return the active locale as a string (``de`` or ``en``)."""
    return str(get_locale() or DEFAULT)


def money(value: Decimal | str | None, currency: str, locale: str | None = None) -> str:
    """Format an amount of money in the locale (``1.234,50 €`` / ``€1,234.50``); – when unknown."""
    if value is None:
        return "–"
    # Merchants round money half up (12.345 → 12.35), Babel would round half to even.
    return format_currency(cents(Decimal(str(value))), currency, locale=locale or locale_name())


def money_short(value: Decimal | str | None, currency: str, locale: str | None = None) -> str:
    """Format money without cents (chart labels)."""
    if value is None:
        return "–"
    loc = Locale.parse(locale or locale_name())
    pattern = loc.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")
    whole = Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return format_currency(whole, currency, locale=loc, format=pattern,
                           currency_digits=False)


def number(value: float | int | None, digits: int = 2, locale: str | None = None) -> str:
    """Format a number with ``digits`` decimals in the locale (``1.234,5`` / ``1,234.5``)."""
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=locale or locale_name())


def percent(value: float | None, digits: int = 1, locale: str | None = None) -> str:
    """Format a share as a percentage (``23,4 %`` / ``23.4%``)."""
    if value is None:
        return "–"
    loc = Locale.parse(locale or locale_name())
    pattern = loc.percent_formats[None].pattern.split(";")[0]
    if digits:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
    return format_percent(value, format=pattern, locale=loc)


def when(value: datetime | str | None, fmt: str = "medium") -> str:
    """Format an instant in the locale (shown in UTC unless the app sets a time zone)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return format_datetime(value, fmt)


def day(value: datetime | None, fmt: str = "medium") -> str:
    """Format the date of an instant (in the shop's time zone) in the locale."""
    if value is None:
        return "–"
    return format_date(value.astimezone(get_timezone()), fmt)


#: Display names of campaign states (unknown states show as they are stored).
CAMPAIGN_STATES: dict[str, Any] = {
    "draft": lazy_gettext("draft"), "scheduled": lazy_gettext("scheduled"),
    "pushing": lazy_gettext("pushing"), "pushed": lazy_gettext("pushed"),
    "expired": lazy_gettext("expired"), "partial": lazy_gettext("partly pushed"),
}


def campaign_state(status: str | None) -> str:
    """Return a campaign state's display name in the dashboard's language."""
    return str(CAMPAIGN_STATES.get(status or "", status or "–"))


def init_app(app: Flask) -> Babel:
    """Attach Flask-Babel with the packaged catalogs and the template filters."""
    from pathlib import Path

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES",
                          str(Path(__file__).parent.parent / "translations"))
    babel = Babel(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    app.jinja_env.filters.update(number=number, percent=percent, when=when, day=day)
    app.jinja_env.globals.update(money=money, money_short=money_short, locale_name=locale_name,
                                 LANGUAGES=LANGUAGES, campaign_state=campaign_state)
    return babel


def template_context() -> dict[str, Any]:
    """Return values every dashboard template may use."""
    return {"lang": locale_name()}
