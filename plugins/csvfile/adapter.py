"""Read the ``stammkunde-csv`` order format into canonical records.

Format: UTF-8, comma-separated, header row with these columns (any order, extra columns refused):
``order_id,customer_id,email,created_at,currency,total,refunded,status,channel,discount_codes``.
Required: ``order_id``, ``created_at`` (ISO 8601 date or datetime; a date means 00:00 in the shop's
time zone, a datetime without offset is in the shop's time zone), ``total``, and at least one of
``customer_id`` / ``email``. ``status`` is ``paid`` (default), ``pending``, ``refunded`` or
``cancelled``; ``refunded`` an amount (a ``refunded`` order without one is refunded in full);
``discount_codes`` separated by ``;``. A file has no refund dates: refunds are dated at the order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from stammkunde.core.errors import InvalidRecord, UserError
from stammkunde.core.identity import normalize_email
from stammkunde.core.money import parse_money
from stammkunde.core.records import Batch, OrderRecord, OrderStatus, Refund
from stammkunde.core.store import check_currency
from stammkunde.core.timeutil import parse_instant
from stammkunde.plugins.adapter import Capability, PlatformAdapter, ShopConnection

COLUMNS = ("order_id", "customer_id", "email", "created_at", "currency", "total", "refunded",
           "status", "channel", "discount_codes")
REQUIRED = ("order_id", "created_at", "total")
BATCH = 1000


@dataclass(frozen=True)
class RejectedRow:
    """A row that could not be read: its line number in the file, why, and its raw values."""

    line: int
    reason: str
    row: dict[str, str]


def _amount(text: str, column: str) -> Decimal:
    value = parse_money(text, field=column, error=ValueError)
    if value < 0:
        raise ValueError(f"{column} is negative: {text}")
    return value


def parse_row(row: dict[str, str], shop: ShopConnection) -> OrderRecord:
    """Turn one CSV row into an OrderRecord or raise ValueError naming the problem."""
    get = {k: (v or "").strip() for k, v in row.items()}
    for column in REQUIRED:
        if not get.get(column):
            raise ValueError(f"{column} is empty")
    customer_id = get.get("customer_id") or None
    email_raw = get.get("email") or None
    if email_raw and normalize_email(email_raw) is None:
        raise ValueError(f"email is not an e-mail address: {email_raw!r}")
    if not customer_id and not email_raw:
        raise ValueError("needs customer_id or email")
    try:
        created = parse_instant(get["created_at"], shop.timezone)
    except UserError as exc:
        raise ValueError(f"created_at {exc}") from exc
    total = _amount(get["total"], "total")
    status_text = (get.get("status") or "paid").lower()
    try:
        status = OrderStatus(status_text)
    except ValueError as exc:
        raise ValueError(
            f"status {status_text!r} is not one of paid, pending, refunded, cancelled"
        ) from exc
    refunded = _amount(get["refunded"], "refunded") if get.get("refunded") else None
    if refunded is None and status == OrderStatus.REFUNDED:
        refunded = total
    if refunded is not None and refunded > total:
        raise ValueError(f"refunded {refunded} is more than total {total}")
    currency = (get.get("currency") or shop.currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency is not a 3-letter code: {currency!r}")
    codes = tuple(c.strip() for c in get.get("discount_codes", "").split(";") if c.strip())
    rec = OrderRecord(
        platform_id=get["order_id"],
        created_at=created,
        total=total,
        currency=currency,
        status=status,
        customer_id=customer_id,
        email=email_raw,
        refunds=(Refund(amount=refunded, created_at=created),) if refunded else (),
        discount_codes=codes,
        channel=get.get("channel") or None,
    )
    refuse_currency(rec, shop.currency)
    return rec


def refuse_currency(rec: OrderRecord, shop_currency: str) -> None:
    """Reject a row whose order is not in the shop's currency (the store's rule, per row)."""
    try:
        check_currency(rec, shop_currency)
    except InvalidRecord as exc:
        raise ValueError(str(exc)) from None


def _check_header(header: list[str] | None) -> None:
    if not header:
        raise UserError("the file is empty (expected a header row)")
    names = [h.strip() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        raise UserError(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; "
            f"expected {','.join(COLUMNS)}"
        )
    missing = [c for c in REQUIRED if c not in names]
    if not ("customer_id" in names or "email" in names):
        missing.append("customer_id or email")
    if missing:
        raise UserError(f"missing column(s): {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise UserError("a column appears twice in the header")


def decode(path: Path) -> str:
    """Read a file as UTF-8 (a byte-order mark is allowed) or raise a one-line error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError(f"{path.name} is not UTF-8 (bad byte at line {line})") from exc


def read_csv(path: Path, shop: ShopConnection) -> Iterator[Batch]:
    """Yield batches of orders; rejected rows travel in ``batch.meta['rejected']``."""
    text = decode(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=False)
    _check_header(reader.fieldnames)
    reader.fieldnames = [h.strip() for h in reader.fieldnames or []]
    seen: dict[str, int] = {}
    records: list[OrderRecord] = []
    rejected: list[RejectedRow] = []
    total_rows = max(text.count("\n") - 1, 0)
    for row in reader:
        line = reader.line_num
        if None in row:
            rejected.append(RejectedRow(line, "more fields than header columns", row))  # type: ignore[arg-type]
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            rec = parse_row(row, shop)
            if rec.platform_id in seen:
                raise ValueError(
                    f"order_id {rec.platform_id!r} already on line {seen[rec.platform_id]}"
                )
            seen[rec.platform_id] = line
            records.append(rec)
        except ValueError as exc:
            rejected.append(RejectedRow(line, str(exc), {k: v or "" for k, v in row.items()}))
        if len(records) + len(rejected) >= BATCH:
            yield Batch(tuple(records), meta={"rejected": rejected, "rows": total_rows})
            records, rejected = [], []
    if records or rejected:
        yield Batch(tuple(records), meta={"rejected": rejected, "rows": total_rows})


class CsvAdapter(PlatformAdapter):
    """Orders from a CSV export: the adapter for tills and shop systems without an API."""

    name: ClassVar[str] = "csv"
    display_name: ClassVar[str] = "CSV file"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.IMPORT_FILE})
    file_formats: ClassVar[tuple[str, ...]] = ("stammkunde-csv", "shopify-csv")

    def import_file(self, path: Path, fmt: str | None, shop: ShopConnection) -> Iterator[Batch]:
        """Read a ``stammkunde-csv`` file or Shopify's order export into batches of orders."""
        fmt = fmt or "stammkunde-csv"
        if fmt == "shopify-csv":
            from stammkunde.plugins.csvfile.shopify_export import read_shopify_export

            return read_shopify_export(path, shop)
        if fmt not in self.file_formats:
            raise UserError(f"unknown format {fmt!r} (known: {', '.join(self.file_formats)})")
        return read_csv(path, shop)
