"""The one money parser: exact decimals in, a one-line error naming the field for anything else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stammkunde.core.errors import InvalidRecord, UserError
from stammkunde.core.money import parse_money


@pytest.mark.parametrize(("text", "value"), [
    ("12.50", Decimal("12.50")), (" 7 ", Decimal(7)), (3, Decimal(3)),
    (Decimal("0.0001"), Decimal("0.0001")), ("-4.20", Decimal("-4.20")),
    ("999999999999999", Decimal("999999999999999")), ("1e3", Decimal(1000)), ("0e99", Decimal(0)),
])
def test_amounts_parse_exactly(text, value) -> None:  # type: ignore[no-untyped-def]
    assert parse_money(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("NaN", "total is not a finite number: 'NaN'"),
    ("sNaN", "total is not a finite number: 'sNaN'"),
    ("Infinity", "total is not a finite number: 'Infinity'"),
    ("-inf", "total is not a finite number: '-inf'"),
    ("1e999999999", "total is too large: '1e999999999' (at most 15 digits before the decimal "
                    "point)"),
    ("1000000000000000", "total is too large: '1000000000000000' (at most 15 digits before the "
                         "decimal point)"),
    ("1e-999999999", "total has more than 12 decimal places: '1e-999999999'"),
    ("12,50", "total is not a number: '12,50'"),
    ("", "total is not a number: ''"),
    (True, "total is not a number: True"),
    (None, "total is not a number: None"),
])
def test_anything_else_is_refused_naming_the_field(text, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError) as err:
        parse_money(text, field="total")
    assert str(err.value) == message


def test_the_caller_chooses_the_error_class_and_floats_are_a_programming_error() -> None:
    with pytest.raises(InvalidRecord, match=r"^price is not a finite number"):
        parse_money("NaN", field="price", error=InvalidRecord)
    with pytest.raises(TypeError, match="must not be a float"):
        parse_money(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e999999999"])
def test_shopify_payload_amounts_use_the_one_parser(amount: str) -> None:
    from stammkunde.plugins.shopify.mapping import money

    with pytest.raises(InvalidRecord, match=r"^total_price "):
        money(amount, "total_price")
    assert money(None) == Decimal(0) and money("19.99") == Decimal("19.99")
