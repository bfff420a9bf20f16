"""Form input in the merchant's language: numbers typed the locale's way, errors in their words.

A German merchant types ``0,5`` (and an English one ``0.5``); :func:`canonical_numbers` turns both
into ``0.5`` with Babel's ``parse_decimal`` before marshmallow validates. Marshmallow's and the
tier parser's English messages are translated by :func:`translate_error`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from flask_babel import gettext as _

from stammkunde.app.dashboard.i18n import locale_name

_PLAIN = re.compile(r"^[+-]?\d+(\.\d+)?$")


def parse_number(text: str, locale: str | None = None) -> Decimal | None:
    """Return the number typed in the locale's way (``0,5`` in German), or None if it is none."""
    raw = text.strip().replace("\u202f", "").replace("\xa0", "")
    if not raw:
        return None
    try:
        return parse_decimal(raw, locale=locale or locale_name(), strict=True)
    except NumberFormatError:
        pass
    if _PLAIN.match(raw):  # "0.5" is understood in every language
        try:
            return Decimal(raw)
        except InvalidOperation:
            return None
    return None


def canonical_numbers(values: Mapping[str, str], names: Iterable[str],
                      locale: str | None = None) -> dict[str, str]:
    """Return the form values with the named number fields rewritten as ``1234.5``."""
    out = dict(values)
    for name in names:
        number = parse_number(out.get(name, ""), locale)
        if number is not None:
            out[name] = format(number, "f")
    return out


def show_number(value: Any, locale: str | None = None) -> str:
    """Return a number as a form field shows it in the locale (``0,3``), without grouping."""
    if value is None or value == "":
        return ""
    return format_decimal(Decimal(str(value)), format="0.######", locale=locale or locale_name())


def _num(text: str) -> str:
    try:
        return show_number(text)
    except (InvalidOperation, ValueError):
        return text


# Marshmallow's messages (and the tier parser's), with the translation to show instead.
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^Missing data for required field\.$"), lambda m: _("This field is required.")),
    (re.compile(r"^Field may not be null\.$"), lambda m: _("This field is required.")),
    (re.compile(r"^Not a valid number\.$"), lambda m: _("Enter a number.")),
    (re.compile(r"^Not a valid integer\.$"), lambda m: _("Enter a whole number.")),
    (re.compile(r"^Not a valid string\.$"), lambda m: _("Enter text.")),
    (re.compile(r"^Number too large\.$"), lambda m: _("This number is too large.")),
    (re.compile(r"^Special numeric values \(nan or infinity\) are not permitted\.$"),
     lambda m: _("Enter a number.")),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
     lambda m: _("Must be between %(min)s and %(max)s.", min=_num(m[1]), max=_num(m[2]))),
    (re.compile(r"^Must be greater than or equal to (\S+)\.$"),
     lambda m: _("Must be at least %(min)s.", min=_num(m[1]))),
    (re.compile(r"^Must be less than or equal to (\S+)\.$"),
     lambda m: _("Must be at most %(max)s.", max=_num(m[1]))),
    (re.compile(r"^write each tier as name: minimum points, not '(.*)'$"),
     lambda m: _("Write each tier as name: minimum points, not “%(part)s”.", part=m[1])),
    (re.compile(r"^tier '(.*)' appears twice$"),
     lambda m: _("The tier “%(name)s” appears twice.", name=m[1])),
    (re.compile(r"^tier '(.*)' \((\d+)\) must need more points than the tier before it$"),
     lambda m: _("The tier “%(name)s” (%(points)s) must need more points than the tier "
                 "before it.", name=m[1], points=m[2])),
    (re.compile(r"^give at least one tier$"), lambda m: _("Give at least one tier.")),
)


def translate_error(message: str) -> str:
    """Return a validation message in the dashboard's language."""
    for pattern, render in _PATTERNS:
        match = pattern.match(message)
        if match:
            return render(match)
    return message


def field_errors(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return marshmallow's ``normalized_messages()`` per field, translated."""
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        items = value if isinstance(value, list) else [value]
        out[key] = [translate_error(str(v)) for v in items]
    return out
