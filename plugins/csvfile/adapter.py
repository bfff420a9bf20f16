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
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import numpy as np

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
    return "".join(lines(path))


def lines(path: Path) -> Iterator[str]:
    """Yield a UTF-8 file's lines one by one (a byte-order mark is allowed), or a one-line error.

    The file is streamed, so a file of millions of rows never sits in memory whole.
    """
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{path.name} is not UTF-8 (bad byte at line {number})") from exc


def count_lines(path: Path) -> int:
    """Return the number of line breaks in a file (read in blocks, for progress totals)."""
    count = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
    return count


class SeenIds:
    """Which order ids a file had on which line, in about 12 bytes per id.

    A dict of millions of ids would cost gigabytes; this keeps 64-bit hashes with their line
    numbers in sorted numpy runs (merged like a binary counter, so adding n ids costs
    O(n log n)). Two different ids share a hash with probability about n²/2⁶⁵ (1 in 10⁶ for a
    file of 5 million orders).
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Return, per hash, the line it was first seen on (0 for new ones)."""
        found = np.zeros(len(hashes), dtype=np.int64)
        for keys, where in self.runs:
            pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = (keys[pos] == hashes) & (found == 0)
            found[hit] = where[pos[hit]]
        return found

    def add(self, hashes: np.ndarray, where: np.ndarray) -> None:
        """Remember new hashes (distinct, unseen) with their line numbers."""
        if not len(hashes):
            return
        order = np.argsort(hashes, kind="stable")
        self.runs.append((hashes[order], where[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k1, w1), (k2, w2) = self.runs.pop(), self.runs.pop()
            keys = np.concatenate((k2, k1))
            order = np.argsort(keys, kind="stable")
            self.runs.append((keys[order], np.concatenate((w2, w1))[order]))


def as_row(fieldnames: list[str], values: list[str]) -> dict:
    """Return a row's values by column, as ``csv.DictReader`` would (extra values under None)."""
    row: dict = dict(zip(fieldnames, values, strict=False))
    if len(values) > len(fieldnames):
        row[None] = values[len(fieldnames):]
    return row


def read_csv(path: Path, shop: ShopConnection) -> Iterator[Batch]:
    """Yield batches of orders; rejected rows travel in ``batch.meta['rejected']``."""
    reader = csv.reader(lines(path))
    header = next(reader, None)
    while header == []:
        header = next(reader, None)
    _check_header(header)
    fieldnames = [h.strip() for h in header or []]
    width = len(fieldnames)
    parser = RowParser(fieldnames, shop)
    total_rows = max(count_lines(path) - 1, 0)
    seen = SeenIds()
    batch_seen: dict[str, int] = {}
    records: list[OrderRecord] = []
    rejected: list[RejectedRow] = []
    raw_rows: dict[int, list[str]] = {}

    def refuse(line: int, reason: str, values: list[str]) -> None:
        row = {k: v or "" for k, v in as_row(fieldnames, values).items()}
        for name in fieldnames[len(values):]:
            row[name] = ""
        rejected.append(RejectedRow(line, reason, row))

    def flush() -> Batch:
        """Refuse ids seen in earlier batches, remember this batch's, and build the batch."""
        nonlocal records, rejected
        if records:
            hashes = np.fromiter((hash(r.platform_id) for r in records), np.int64, len(records))
            lines_of = np.fromiter(batch_seen.values(), np.int64, len(records))
            earlier = seen.find(hashes)
            if earlier.any():
                kept = []
                for rec, line, first in zip(records, lines_of, earlier, strict=True):
                    if first:
                        refuse(int(line), f"order_id {rec.platform_id!r} already on line {first}",
                               raw_rows[int(line)])
                    else:
                        kept.append(rec)
                records = kept
                rejected.sort(key=lambda r: r.line)
                fresh = earlier == 0
                hashes, lines_of = hashes[fresh], lines_of[fresh]
            seen.add(hashes, lines_of)
        batch = Batch(tuple(records), meta={"rejected": rejected, "rows": total_rows})
        records, rejected = [], []
        batch_seen.clear()
        raw_rows.clear()
        return batch

    for values in reader:
        line = reader.line_num
        if not values:  # an empty line (csv.DictReader skips these too)
            continue
        if len(values) > width:
            refuse(line, "more fields than header columns", values)
        elif not any(v.strip() for v in values):
            continue
        else:
            try:
                rec = parser.parse(values)
                if rec.platform_id in batch_seen:
                    raise ValueError(f"order_id {rec.platform_id!r} already on line "
                                     f"{batch_seen[rec.platform_id]}")
                batch_seen[rec.platform_id] = line
                raw_rows[line] = values
                records.append(rec)
            except ValueError as exc:
                refuse(line, str(exc), values)
        if len(records) + len(rejected) >= BATCH:
            yield flush()
    if records or rejected:
        yield flush()


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
