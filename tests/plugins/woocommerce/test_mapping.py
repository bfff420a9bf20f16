"""Order and customer JSON → canonical records, with values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.records import OrderDeleted, OrderRecord, OrderStatus, Refund
from stammkunde.plugins.woocommerce.mapping import (
    channel_of,
    customer_record,
    map_status,
    order_record,
)


def order(**over: object) -> dict:
    base = {
        "id": 727, "status": "completed", "currency": "EUR", "created_via": "checkout",
        "date_created": "2024-03-01T11:15:00", "date_created_gmt": "2024-03-01T10:15:00",
        "date_modified": "2024-03-02T09:00:00", "date_modified_gmt": "2024-03-02T08:00:00",
        "total": "59.90", "customer_id": 12,
        "billing": {"first_name": "Erika", "last_name": "Muster", "email": "Erika@Example.org"},
        "line_items": [{"name": "Tee", "product_id": 93, "variation_id": 0, "quantity": 2,
                        "total": "59.90", "sku": "TEE", "price": Decimal("29.95")}],
        "coupon_lines": [{"id": 1, "code": "sommer10", "discount": "6.66"}],
        "refunds": [],
    }
    base.update(over)
    return base


@pytest.mark.parametrize(("status", "expected"), [
    ("pending", OrderStatus.PENDING),
    ("checkout-draft", OrderStatus.PENDING),
    ("on-hold", OrderStatus.PENDING),
    ("processing", OrderStatus.PAID),
    ("completed", OrderStatus.PAID),
    ("refunded", OrderStatus.REFUNDED),
    ("cancelled", OrderStatus.CANCELLED),
    ("failed", OrderStatus.CANCELLED),
    ("wc-completed", OrderStatus.PAID),
    ("shipped", OrderStatus.PENDING),
])
def test_each_status_maps_to_its_canonical_status(status: str, expected: OrderStatus) -> None:
    assert map_status(status) == expected
    rec = order_record(order(status=status, refunds=[{"id": 1, "total": "-59.90"}]
                             if status == "refunded" else []))
    assert isinstance(rec, OrderRecord) and rec.status == expected


def test_status_map_option_overrides_plugin_statuses() -> None:
    assert map_status("shipped", {"shipped": "paid"}) == OrderStatus.PAID


def test_trashed_order_is_a_deletion_dated_at_its_modification() -> None:
    rec = order_record(order(status="trash"))
    assert rec == OrderDeleted("727", datetime(2024, 3, 2, 8, 0, tzinfo=UTC))


def test_completed_order_fields() -> None:
    rec = order_record(order())
    assert isinstance(rec, OrderRecord)
    assert rec.platform_id == "727"
    assert rec.created_at == datetime(2024, 3, 1, 10, 15, tzinfo=UTC)  # GMT, not site time
    assert rec.updated_at == datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    assert rec.total == Decimal("59.90") and isinstance(rec.total, Decimal)
    assert rec.customer_id == "12" and rec.email == "Erika@Example.org"
    assert rec.discount_codes == ("sommer10",)
    assert rec.channel == "online"
    assert rec.customer_name == "Erika Muster"
    assert rec.line_items[0].price == Decimal("29.95") and rec.line_items[0].quantity == 2


def test_partial_refund_is_positive_and_dated_from_refund_dates() -> None:
    when = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    rec = order_record(order(refunds=[{"id": 801, "reason": "", "total": "-10.00"}]),
                       refund_dates={"801": when})
    assert rec.refunds == (Refund(Decimal("10.00"), when, "801"),)  # type: ignore[union-attr]
    assert rec.status == OrderStatus.PAID  # type: ignore[union-attr]


def test_full_refund_in_two_parts() -> None:
    rec = order_record(order(status="refunded", refunds=[
        {"id": 802, "total": "-19.90"}, {"id": 801, "total": "-40.00"}]))
    assert isinstance(rec, OrderRecord)
    assert rec.status == OrderStatus.REFUNDED
    assert sum(r.amount for r in rec.refunds) == Decimal("59.90")
    # without refund dates each refund is dated at the order's last modification
    assert {r.created_at for r in rec.refunds} == {datetime(2024, 3, 2, 8, 0, tzinfo=UTC)}


def test_refunded_status_without_refund_rows_is_a_full_refund() -> None:
    rec = order_record(order(status="refunded"))
    assert rec.refunds[0].amount == Decimal("59.90")  # type: ignore[union-attr]


def test_guest_order_is_identified_by_billing_email() -> None:
    rec = order_record(order(customer_id=0, billing={"email": "gast@example.net"}))
    assert isinstance(rec, OrderRecord)
    assert rec.customer_id is None and rec.email == "gast@example.net"


def test_order_without_account_or_email_cannot_be_attributed() -> None:
    assert order_record(order(customer_id=0, billing={"email": ""}, created_via="pos")) is None


@pytest.mark.parametrize(("via", "channel"), [
    ("checkout", "online"), ("store-api", "online"), ("", "online"), ("admin", "admin"),
    ("rest-api", "api"), ("pos-rest-api", "pos"), ("woocommerce-pos", "pos"),
    ("subscription", "subscription"),
])
def test_created_via_becomes_the_channel(via: str, channel: str) -> None:
    assert channel_of(via) == channel


def test_float_money_is_refused() -> None:
    with pytest.raises(TypeError):
        order_record(order(total=59.9))


def test_garbage_money_is_an_invalid_record() -> None:
    with pytest.raises(InvalidRecord):
        order_record(order(total="abc"))


def test_customer_record() -> None:
    rec = customer_record({"id": 25, "email": "james@example.com", "first_name": "James",
                           "last_name": "Doe", "date_created_gmt": "2017-03-21T19:29:21",
                           "date_modified_gmt": "2017-03-21T19:29:21"})
    assert rec.platform_id == "25" and rec.email == "james@example.com"
    assert rec.updated_at == datetime(2017, 3, 21, 19, 29, 21, tzinfo=UTC)
