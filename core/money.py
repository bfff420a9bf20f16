"""Money helpers: Decimal everywhere, stored as exact integers of 1/10,000 of a unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from stammkunde.core.errors import UserError

SCALE = 10_000
#: Bounds of an amount: integer digits (10^14 units of 1/10,000 fit a signed 64-bit integer),
#: decimals kept, characters read.
MAX_DIGITS = 14
MAX_DECIMALS = 12
MAX_CHARS = 64
CENT = Decimal("0.01")


def parse_money(text: str | int | Decimal, *, field: str = "amount",
                error: type[Exception] = UserError) -> Decimal:
    """Parse a decimal amount ("12.50"), refusing floats, NaN, infinities and garbage.

    The refusal is raised as ``error`` (a file reader collects ValueErrors per row, an adapter
    raises InvalidRecord) with a message naming ``field``.
    """
    if isinstance(text, float):
        raise TypeError(f"{field} must not be a float (parse JSON with parse_float=Decimal)")
    raw = str(text).strip()
    if len(raw) > MAX_CHARS:  # before Decimal: a megabyte of digits is not an amount
        raise error(f"{field} is not an amount: {raw[:20]!r}… ({len(raw)} characters)")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise error(f"{field} is not a number: {text!r}") from exc
    if not value.is_finite():
        raise error(f"{field} is not a finite number: {text!r}")
    # "1e999000" is finite but would take a worker minutes to scale and round; no amount has
    # more than 14 integer digits (stored as 1/10,000 units in a 64-bit integer) or needs more
    # than 12 decimals.
    if value.is_zero() and abs(int(value.as_tuple().exponent)) > MAX_DECIMALS:
        return Decimal(0)
    if value and (value.adjusted() >= MAX_DIGITS or value.as_tuple().exponent < -MAX_DECIMALS):
        if value.adjusted() >= MAX_DIGITS:
            raise error(f"{field} is too large: {text!r}")
        value = value.quantize(Decimal(1).scaleb(-MAX_DECIMALS), rounding=ROUND_HALF_UP) \
            if value.adjusted() > -MAX_DECIMALS else Decimal(0)
    return value


def to_units(value: Decimal) -> int:
    """Return the stored integer (1/10,000 units) for a Decimal amount."""
    if value.is_finite() and value and value.adjusted() >= MAX_DIGITS:
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
