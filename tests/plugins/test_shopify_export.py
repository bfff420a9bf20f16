"""Shopify's own order export: one row per line item, order columns on the first row."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from stammkunde.core.models import Order
from stammkunde.core.shops import create_shop
from stammkunde.plugins import get_plugins
from stammkunde.plugins.ingest import ImportRejected, import_file

HEADER = ("Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
          "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
          "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
          "Lineitem sku,Cancelled at,Refunded Amount,Id,Source")
ROWS = [
    "#1001,anna@example.com,paid,2024-01-05 11:13:25 +0100,fulfilled,,yes,EUR,60.00,4.90,9.58,"
    "64.90,WELCOME10,6.00,Standard,2024-01-05 11:13:20 +0100,2,Tea 100 g,25.00,,TEA-100,,,"
    "5001,web",
    "#1001,anna@example.com,,,,,,,,,,,,,,,1,Mug,10.00,,MUG-1,,,,",
    "#1002,ben@example.com,partially_refunded,2024-02-01 09:00:00 +0000,fulfilled,,no,EUR,40.00,"
    "0.00,6.39,40.00,,0.00,,2024-02-01 09:00:00 +0000,1,Teapot,40.00,,POT-1,,15.00,5002,pos",
    "#1003,anna@example.com,voided,,,,,EUR,20.00,0,0,20.00,,0,,2024-03-01 08:00:00 +0000,1,Tea,"
    "20.00,,TEA-50,2024-03-01 09:00:00 +0000,,5003,web",
]


def export(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "orders_export.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def shop(sessions) -> str:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        create_shop(s, "shopify-history", "csv")
    return "shopify-history"


def test_orders_are_grouped_and_mapped(sessions, shop, tmp_path) -> None:
    result = import_file(sessions, get_plugins(), shop, export(tmp_path, *ROWS),
                         fmt="shopify-csv")
    assert (result.rows, result.stats.inserted) == (3, 3)
    with sessions() as s:
        o1, o2, o3 = s.scalars(select(Order).order_by(Order.platform_id))
        assert (o1.platform_id, o1.total, o1.channel) == ("5001", Decimal("64.90"), "web")
        assert o1.created_at.isoformat() == "2024-01-05T10:13:20+00:00"
        assert [(li.quantity, li.sku, li.price) for li in o1.lines] == [
            (2, "TEA-100", Decimal("25.00")), (1, "MUG-1", Decimal("10.00"))]
        assert [d.code for d in o1.discounts] == ["WELCOME10"]
        assert (o2.status, [r.amount for r in o2.refunds], o2.channel) == (
            "paid", [Decimal("15.00")], "pos")
        assert o3.status == "cancelled" and o3.cancelled_ts == 1709283600
        assert o1.person_id == o3.person_id != o2.person_id


def test_an_order_without_email_is_imported_without_a_buyer(sessions, shop, tmp_path) -> None:
    till = ("#1004,,paid,,,,,EUR,5,0,0,5.00,,0,,2024-03-02 08:00:00 +0000,1,Tea,5.00,,T,,,"
            "5004,pos")
    result = import_file(sessions, get_plugins(), shop, export(tmp_path, *ROWS, till),
                         fmt="shopify-csv")
    # counted, not stored: it belongs to no customer (store.attributable, as for every platform)
    assert (result.rows, result.stats.inserted, result.stats.unattributed) == (4, 3, 1)
    assert result.rejected == []
    with sessions() as s:
        assert sorted(s.scalars(select(Order.platform_id))) == ["5001", "5002", "5003"]


def test_a_malformed_email_still_rejects_the_file(sessions, shop, tmp_path) -> None:
    row = ("#1004,not-an-address,paid,,,,,EUR,5,0,0,5.00,,0,,2024-03-02 08:00:00 +0000,1,Tea,5.00,"
           ",T,,,5004,pos")
    with pytest.raises(ImportRejected, match="line 2: Email is not an e-mail address"):
        import_file(sessions, get_plugins(), shop, export(tmp_path, row), fmt="shopify-csv")


def test_a_file_that_is_not_a_shopify_export_is_refused(sessions, shop, tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("order_id,total\n1,5\n", encoding="utf-8")
    with pytest.raises(Exception, match="not a Shopify order export: missing column"):
        import_file(sessions, get_plugins(), shop, path, fmt="shopify-csv")
