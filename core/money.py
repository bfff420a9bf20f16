"""Money helpers: Decimal everywhere, stored as exact integers of 1/10,000 of a unit."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from stammkunde.core.errors import UserError

SCALE = 10_000
CENT = Decimal("0.01")
#: Amounts from 10**15 up are refused: no order is that large, and a value like "1e999999999"
#: would otherwise become an integer of a billion digits on the way to storage.
MAX_DIGITS_BEFORE_POINT = 15
#: More decimal places than this are refused (storage keeps four; "1e-999999999" is garbage).
MAX_PLACES = 12
#: Text that is certainly a valid amount (within both limits): converted without further checks.
PLAIN = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,12})?")


def parse_money(text: str | int | Decimal, *, field: str = "amount",
                error: type[Exception] = UserError) -> Decimal:
    """Parse a decimal amount ("12.50"), refusing floats, NaN, infinities, huge values and garbage.

    This is the one money parser: CSV rows, platform payloads and user input all come through
    it. The refusal is raised as ``error`` (a file reader collects ValueErrors per row, an
    adapter raises InvalidRecord) with a message naming ``field``.
    """
    if type(text) is str and PLAIN.fullmatch(text):
        return Decimal(text)
    if isinstance(text, float):
        raise TypeError(f"{field} must not be a float (parse JSON with parse_float=Decimal)")
    if isinstance(text, bool) or not isinstance(text, str | int | Decimal):
        raise error(f"{field} is not a number: {text!r}")
    shown = text if len(str(text)) <= 40 else f"{str(text)[:40]}…"
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise error(f"{field} is not a number: {shown!r}") from None
    if not value.is_finite():
        raise error(f"{field} is not a finite number: {shown!r}")
    if value and value.adjusted() >= MAX_DIGITS_BEFORE_POINT:
        raise error(f"{field} is too large: {shown!r} (at most "
                    f"{MAX_DIGITS_BEFORE_POINT} digits before the decimal point)")
    if -value.as_tuple().exponent > MAX_PLACES:  # type: ignore[operator]
        raise error(f"{field} has more than {MAX_PLACES} decimal places: {shown!r}")
    return value


def to_units(value: Decimal) -> int:
    """Return the stored integer (1/10,000 units) for a Decimal amount."""
    if value.is_finite() and value and value.adjusted() >= MAX_DIGITS_BEFORE_POINT:
        # a parser that bypassed parse_money must not make rounding run for minutes
        raise ValueError(f"amount {value!r} is too large to store")
    return int((value * SCALE).to_integral_value(rounding=ROUND_HALF_UP))


def from_units(units: int | None) -> Decimal:
    """Return the Decimal amount for a stored integer of 1/10,000 units."""
    return Decimal(int(units or 0)) / SCALE


def cents(value: Decimal) -> Decimal:
    """Round to two decimals, half up, as merchants read money."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value: Decimal) -> str:
    """Format money for JSON: a string with exactly two decimals."""
    return str(cents(value))
