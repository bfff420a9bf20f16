"""Read Shopify's own order export (Admin → Orders → Export, "CSV for Excel, Numbers, or other").

The export writes one row per line item; the order's own columns (e-mail, status, totals, dates)
are filled on its first row only, and every row repeats ``Name`` (``#1001``). Columns used:
``Name``, ``Id`` (preferred as the order id when present), ``Email``, ``Financial Status``,
``Currency``, ``Total``, ``Discount Code``, ``Created at`` (``2024-01-05 11:13:25 +0100``),
``Cancelled at``, ``Refunded Amount``, ``Source`` (channel: web, pos, shopify_draft_order, …),
and ``Lineitem quantity/name/price/sku``. The export has no customer id, so a customer is known by
e-mail; an order without one (a walk-in at the till) is imported "without a buyer": counted as
unattributed and left out of every per-customer metric (as on the other platforms).
Financial status maps as: pending, authorized → pending; paid, partially_paid,
partially_refunded → paid; refunded → refunded; voided → cancelled (``Cancelled at`` also cancels).
The export carries no refund dates: refunds are dated at the order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

from stammkunde.core.errors import UserError
from stammkunde.core.identity import normalize_email
from stammkunde.core.records import Batch, LineItem, OrderRecord, OrderStatus, Refund
from stammkunde.plugins.adapter import ShopConnection
from stammkunde.plugins.csvfile.adapter import decode
from stammkunde.plugins.csvfile.rows import BATCH, RejectedRow, _amount, refuse_currency

NEEDED = ("Name", "Email", "Financial Status", "Currency", "Total", "Created at")
STATUS = {
    "pending": OrderStatus.PENDING, "authorized": OrderStatus.PENDING,
    "paid": OrderStatus.PAID, "partially_paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID, "refunded": OrderStatus.REFUNDED,
    "voided": OrderStatus.CANCELLED,
}


def _when(text: str, column: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"{column} is not like '2024-01-05 11:13:25 +0100': {text!r}") from exc


def _order(first: dict[str, str], lines: list[dict[str, str]], shop: ShopConnection) -> OrderRecord:
    get = {k: (v or "").strip() for k, v in first.items()}
    for column in ("Total", "Created at", "Financial Status"):
        if not get.get(column):
            raise ValueError(f"{column} is empty on the order's first row")
    email = get.get("Email") or None
    if email is not None and not normalize_email(email):
        raise ValueError("Email is not an e-mail address")
    created = _when(get["Created at"], "Created at")
    total = _amount(get["Total"], "Total")
    status_text = get["Financial Status"].lower()
    if status_text not in STATUS:
        raise ValueError(f"Financial Status {status_text!r} is not a Shopify financial status")
    status = STATUS[status_text]
    cancelled = _when(get["Cancelled at"], "Cancelled at") if get.get("Cancelled at") else None
    if cancelled is not None:
        status = OrderStatus.CANCELLED
    refunded = _amount(get["Refunded Amount"], "Refunded Amount") if get.get(
        "Refunded Amount") else None
    if refunded is None and status == OrderStatus.REFUNDED:
        refunded = total
    if refunded is not None and refunded > total:
        raise ValueError(f"Refunded Amount {refunded} is more than Total {total}")
    items = []
    for row in lines:
        qty = (row.get("Lineitem quantity") or "").strip()
        if not qty:
            continue
        try:
            quantity = int(qty)
        except ValueError as exc:
            raise ValueError(f"Lineitem quantity is not a whole number: {qty!r}") from exc
        items.append(LineItem(
            quantity=quantity,
            price=_amount((row.get("Lineitem price") or "0").strip() or "0", "Lineitem price"),
            sku=(row.get("Lineitem sku") or "").strip() or None,
            title=(row.get("Lineitem name") or "").strip() or None,
        ))
    codes = tuple(c.strip() for c in get.get("Discount Code", "").split(",") if c.strip())
    rec = OrderRecord(
        platform_id=get.get("Id") or get["Name"],
        created_at=created,
        total=total,
        currency=(get.get("Currency") or shop.currency).upper(),
        status=status,
        email=email,
        refunds=(Refund(amount=refunded, created_at=created),) if refunded else (),
        discount_codes=codes,
        channel=get.get("Source") or None,
        cancelled_at=cancelled,
        line_items=tuple(items),
    )
    refuse_currency(rec, shop.currency)
    return rec


def read_shopify_export(path, shop: ShopConnection) -> Iterator[Batch]:  # type: ignore[no-untyped-def]
    """Yield batches of orders from a Shopify order export; rejected orders in the meta."""
    text = decode(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise UserError("the file is empty (expected Shopify's header row)")
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise UserError(f"not a Shopify order export: missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    groups: dict[str, tuple[int, list[dict[str, str]]]] = {}
    for row in reader:
        name = (row.get("Name") or "").strip()
        if not name:
            continue
        groups.setdefault(name, (reader.line_num, []))[1].append(row)
    records: list[OrderRecord] = []
    rejected: list[RejectedRow] = []
    for line, rows in groups.values():
        try:
            records.append(_order(rows[0], rows, shop))
        except ValueError as exc:
            rejected.append(RejectedRow(line, str(exc), {k: v or "" for k, v in rows[0].items()}))
        if len(records) + len(rejected) >= BATCH:
            yield Batch(tuple(records), meta={"rejected": rejected, "rows": len(groups)})
            records, rejected = [], []
    if records or rejected:
        yield Batch(tuple(records), meta={"rejected": rejected, "rows": len(groups)})
