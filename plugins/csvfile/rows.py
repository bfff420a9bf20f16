"""The ``stammkunde-csv`` rows: parsed into orders, and a worker process's part of a large import.

This module loads only the core's record, money and time modules (no SQLAlchemy, no plugin
manager), so each worker process of a large import (``adapter.read_csv``)
starts in a fraction of a second and holds little memory.
"""

from __future__ import annotations

import csv
import gc
from dataclasses import dataclass
from decimal import Decimal

from stammkunde.core.errors import InvalidRecord, UserError
from stammkunde.core.identity import normalize_email
from stammkunde.core.money import parse_money
from stammkunde.core.prepare import (
    LOAD_GC_THRESHOLD,
    PreparedOrders,
    check_currency,
    prepare_orders,
)
from stammkunde.core.records import OrderRecord, OrderStatus, Refund
from stammkunde.core.timeutil import parse_instant
from stammkunde.plugins.adapter import ShopConnection

COLUMNS = ("order_id", "customer_id", "email", "created_at", "currency", "total", "refunded",
           "status", "channel", "discount_codes")
REQUIRED = ("order_id", "created_at", "total")
BATCH = 5000


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


STATUS_BY_TEXT = {s.value: s for s in OrderStatus}


class RowParser:
    """Turns the value lists of one file's rows into OrderRecords (columns located once)."""

    def __init__(self, fieldnames: list[str], shop: ShopConnection) -> None:
        self.width = len(fieldnames)
        # a column the file lacks reads the empty string appended at index ``width``
        at = {name: i for i, name in enumerate(fieldnames)}
        self.index = tuple(at.get(c, self.width) for c in COLUMNS)
        self.timezone = shop.timezone
        self.currency = shop.currency.strip().upper()

    def parse(self, values: list[str]) -> OrderRecord:
        """Return the row's order or raise ValueError naming the problem."""
        values = [*map(str.strip, values[: self.width]), *[""] * (self.width + 1 - len(values))]
        (order_id, customer_id, email_raw, created_text, currency, total_text, refunded_text,
         status_text, channel, codes_text) = map(values.__getitem__, self.index)
        if not order_id:
            raise ValueError("order_id is empty")
        if not created_text:
            raise ValueError("created_at is empty")
        if not total_text:
            raise ValueError("total is empty")
        if email_raw and normalize_email(email_raw) is None:
            raise ValueError(f"email is not an e-mail address: {email_raw!r}")
        if not customer_id and not email_raw:
            raise ValueError("needs customer_id or email")
        try:
            created = parse_instant(created_text, self.timezone)
        except UserError as exc:
            raise ValueError(f"created_at {exc}") from exc
        total = _amount(total_text, "total")
        status_text = status_text.lower() if status_text else "paid"
        status = STATUS_BY_TEXT.get(status_text)
        if status is None:
            raise ValueError(
                f"status {status_text!r} is not one of paid, pending, refunded, cancelled")
        refunded = _amount(refunded_text, "refunded") if refunded_text else None
        if refunded is None and status is OrderStatus.REFUNDED:
            refunded = total
        if refunded is not None and refunded > total:
            raise ValueError(f"refunded {refunded} is more than total {total}")
        currency = currency.upper() if currency else self.currency
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError(f"currency is not a 3-letter code: {currency!r}")
        rec = OrderRecord(
            platform_id=order_id,
            created_at=created,
            total=total,
            currency=currency,
            status=status,
            customer_id=customer_id or None,
            email=email_raw or None,
            refunds=(Refund(amount=refunded, created_at=created),) if refunded else (),
            discount_codes=tuple(c for c in (c.strip() for c in codes_text.split(";")) if c)
            if codes_text else (),
            channel=channel or None,
        )
        refuse_currency(rec, self.currency)
        return rec


def parse_row(row: dict[str, str], shop: ShopConnection) -> OrderRecord:
    """Turn one CSV row (column -> value) into an OrderRecord or raise ValueError naming why."""
    names = list(row)
    return RowParser(names, shop).parse([row[n] or "" for n in names])


def refuse_currency(rec: OrderRecord, shop_currency: str) -> None:
    """Reject a row whose order is not in the shop's currency (the store's rule, per row)."""
    try:
        check_currency(rec, shop_currency)
    except InvalidRecord as exc:
        raise ValueError(str(exc)) from None


def as_row(fieldnames: list[str], values: list[str]) -> dict:
    """Return a row's values by column, as ``csv.DictReader`` would (extra values under None)."""
    row: dict = dict(zip(fieldnames, values, strict=False))
    if len(values) > len(fieldnames):
        row[None] = values[len(fieldnames):]
    return row


def rejected_row(fieldnames: list[str], line: int, reason: str, values: list[str]) -> RejectedRow:
    """Return a refused row with its values by column (missing columns empty)."""
    row = {k: v or "" for k, v in as_row(fieldnames, values).items()}
    for name in fieldnames[len(values):]:
        row[name] = ""
    return RejectedRow(line, reason, row)


Rows = list[tuple[int, list[str]]]


@dataclass
class Chunk:
    """What a run of a file's rows became: orders with their lines and positions, and refusals."""

    records: list[OrderRecord]
    lines: list[int]
    positions: list[int]
    rejected: list[RejectedRow]


def parse_rows(parser: RowParser, fieldnames: list[str], rows: Rows) -> Chunk:
    """Parse (line, values) rows into orders; a bad row or a repeated order id is refused."""
    width = len(fieldnames)
    chunk = Chunk([], [], [], [])
    first_line: dict[str, int] = {}
    for position, (line, values) in enumerate(rows):
        if len(values) > width:
            chunk.rejected.append(rejected_row(fieldnames, line, "more fields than header columns",
                                               values))
            continue
        try:
            rec = parser.parse(values)
            if rec.platform_id in first_line:
                raise ValueError(f"order_id {rec.platform_id!r} already on line "
                                 f"{first_line[rec.platform_id]}")
        except ValueError as exc:
            if any(v.strip() for v in values):  # (a row of empty fields is skipped)
                chunk.rejected.append(rejected_row(fieldnames, line, str(exc), values))
            continue
        first_line[rec.platform_id] = line
        chunk.records.append(rec)
        chunk.lines.append(line)
        chunk.positions.append(position)
    return chunk


def split_lines(text: str) -> list[str]:
    """Return a block's lines with their line ends, split as a file is read (at "\\n" only)."""
    pieces = text.split("\n")
    last = pieces.pop()
    lines_of = [piece + "\n" for piece in pieces]
    if last:
        lines_of.append(last)
    return lines_of


def text_rows(first_line: int, text: str) -> Rows:
    """Return the CSV rows of a block of whole lines as (line, values), empty lines skipped."""
    reader = csv.reader(split_lines(text))
    start = first_line - 1
    return [(start + reader.line_num, values) for values in reader if values]


class _Worker:
    """A worker process's parser (set up once per process by :func:`_start_worker`)."""

    parser: RowParser
    fieldnames: list[str]
    currency: str
    timezone: str


def _start_worker(fieldnames: list[str], currency: str, timezone: str) -> None:
    gc.set_threshold(*LOAD_GC_THRESHOLD)  # (the process lives for one load)
    _Worker.parser = RowParser(fieldnames, ShopConnection(name="", platform="csv",
                                                          currency=currency, timezone=timezone))
    _Worker.fieldnames, _Worker.currency, _Worker.timezone = fieldnames, currency, timezone


def _parse_text(first_line: int, text: str) -> tuple[Chunk, PreparedOrders | None, list[str]]:
    """In a worker: :func:`_parse_prepared` for a block of whole lines without quotes."""
    return _parse_prepared(text_rows(first_line, text))


def _parse_prepared(rows: Rows) -> tuple[Chunk, PreparedOrders | None, list[str]]:
    """In a worker: parse rows and prepare their orders for the store (records not sent back)."""
    chunk = parse_rows(_Worker.parser, _Worker.fieldnames, rows)
    try:
        prepared = prepare_orders(chunk.records, _Worker.currency, _Worker.timezone)
    except InvalidRecord:  # the importing process parses the rows again and fails as it would
        prepared = None
    pids = [r.platform_id for r in chunk.records]
    chunk.records = []
    return chunk, prepared, pids


