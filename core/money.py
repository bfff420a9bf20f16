"""Money helpers: Decimal everywhere, stored as exact integers of 1/10,000 of a unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from stammkunde.core.errors import UserError

SCALE = 10_000
CENT = Decimal("0.01")


def parse_money(text: str | int | Decimal, *, field: str = "amount",
                error: type[Exception] = UserError) -> Decimal:
    """Parse a decimal amount ("12.50"), refusing floats, NaN, infinities and garbage.

    The refusal is raised as ``error`` (a file reader collects ValueErrors per row, an adapter
    raises InvalidRecord) with a message naming ``field``.
    """
    if isinstance(text, float):
        raise TypeError(f"{field} must not be a float (parse JSON with parse_float=Decimal)")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise error(f"{field} is not a number: {text!r}") from exc
    if not value.is_finite():
        raise error(f"{field} is not a finite number: {text!r}")
    return value


def to_units(value: Decimal) -> int:
    """Return the stored integer (1/10,000 units) for a Decimal amount."""
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
