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
import functools
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import ClassVar, overload

import numpy as np

from stammkunde.core.bulk import PreparedOrders
from stammkunde.core.errors import UserError
from stammkunde.core.loaded import HashRuns
from stammkunde.core.records import Batch, OrderRecord
from stammkunde.plugins.adapter import Capability, PlatformAdapter, ShopConnection
from stammkunde.plugins.csvfile.rows import (
    BATCH,
    COLUMNS,
    REQUIRED,
    Chunk,
    RowParser,
    Rows,
    _parse_prepared,
    _parse_text,
    _start_worker,
    parse_rows,
    rejected_row,
    split_lines,
    text_rows,
)
from stammkunde.plugins.csvfile.rows import RejectedRow as RejectedRow  # (earlier home)
from stammkunde.plugins.csvfile.rows import parse_row as parse_row


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


BLOCK = 1 << 19  # bytes of whole lines a worker process parses at a time


def blocks(path: Path, skip: int) -> Iterator[tuple[int, str]]:
    """Yield (number of its first line, text) of a UTF-8 file in blocks of whole lines, after
    the first ``skip`` lines; a bad byte is the same one-line error as in :func:`lines`."""
    number = 1  # the line the next block starts with
    rest = b""
    with path.open("rb") as fh:
        while True:
            data = fh.read(BLOCK)
            block, rest = rest + data, b""
            if data:  # keep a last unfinished line for the next block
                end = block.rfind(b"\n") + 1
                block, rest = block[:end], block[end:]
                if not block:
                    continue
            elif not block:
                return
            if number == 1 and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = number + block.count(b"\n", 0, exc.start)
                raise UserError(f"{path.name} is not UTF-8 (bad byte at line {bad})") from exc
            cut = 0
            while skip and (line_end := text.find("\n", cut)) >= 0:
                cut, skip, number = line_end + 1, skip - 1, number + 1
            text = text[cut:]
            if text:
                yield number, text
                number += text.count("\n")
            if not data:
                return


def count_lines(path: Path) -> int:
    """Return the number of line breaks in a file (read in blocks, for progress totals)."""
    count = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
    return count


MAX_RUN = 1 << 20


class SeenIds:
    """Which order ids a file had on which line, in about 12 bytes per id.

    A dict of millions of ids would cost gigabytes; this keeps 64-bit hashes with their line
    numbers in sorted numpy runs (:class:`~stammkunde.core.loaded.HashRuns`; runs stop growing
    at MAX_RUN ids, so a merge never copies more than 12 MB).
    Two different ids share a hash with probability about n²/2⁶⁵ (1 in 10⁶ for a file of 5
    million orders).
    """

    def __init__(self) -> None:
        self.stored = HashRuns(MAX_RUN, 1)  # (hash -> [line])

    @property
    def runs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The sorted runs of hashes and their lines."""
        return self.stored.runs

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Return, per hash, the line it was first seen on (0 for new ones)."""
        matched, lines = self.stored.find(hashes)
        return np.where(matched, lines[:, 0], 0)

    def add(self, hashes: np.ndarray, where: np.ndarray) -> None:
        """Remember new hashes (distinct, unseen) with their line numbers."""
        self.stored.add(hashes, where.astype(np.uint32)[:, None])


def file_rows(reader: Iterator[list[str]], line_num: Callable[[], int]) -> Iterator[Rows]:
    """Yield the rows of a CSV reader as (line, values) in runs of BATCH (empty lines skipped)."""
    rows: Rows = []
    for values in reader:
        if values:  # an empty line (csv.DictReader skips these too)
            rows.append((line_num(), values))
            if len(rows) >= BATCH:
                yield rows
                rows = []
    if rows:
        yield rows


class LazyRecords(Sequence[OrderRecord]):
    """A batch's orders parsed again from their values only when asked for: a worker process
    already checked them and sent their prepared rows, and the store asks only for the few it
    stores one by one."""

    def __init__(self, parser: RowParser, count: int,
                 values: Callable[[], list[list[str]]]) -> None:
        self.parser = parser
        self.count = count
        self._values = values

    @functools.cached_property
    def values(self) -> list[list[str]]:
        """The orders' rows as value lists, read again from the file's text when first needed."""
        return self._values()

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, i: int) -> OrderRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[OrderRecord]: ...

    def __getitem__(self, i: int | slice) -> OrderRecord | list[OrderRecord]:
        if isinstance(i, slice):
            return [self.parser.parse(v) for v in self.values[i]]
        return self.parser.parse(self.values[i])


#: A file with at least this many rows is parsed by worker processes (on a machine of 2+ cores).
PARALLEL_FROM = 20_000
MAX_WORKERS = 4


def import_workers(rows: int, env: Mapping[str, str] | None = None) -> int:
    """Return how many worker processes parse a file of this many rows (0: this process alone).

    ``STAMMKUNDE_IMPORT_WORKERS`` sets the number for every file (``0`` turns them off);
    otherwise a file of PARALLEL_FROM rows or more gets one per core, up to MAX_WORKERS.
    """
    text = (os.environ if env is None else env).get("STAMMKUNDE_IMPORT_WORKERS", "").strip()
    if text:
        if not text.isdigit():
            raise UserError(f"STAMMKUNDE_IMPORT_WORKERS must be a number of processes, "
                            f"not {text!r}")
        return int(text)
    cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS) if rows >= PARALLEL_FROM and cores > 1 else 0


def read_csv(path: Path, shop: ShopConnection) -> Iterator[Batch]:
    """Yield batches of orders; rejected rows travel in ``batch.meta['rejected']``.

    A large file is parsed by worker processes (:func:`import_workers`), batch by batch in file
    order, and its batches carry the orders prepared for the store (``meta['prepared']``).
    """
    source = lines(path)
    reader = csv.reader(source)
    header = next(reader, None)
    while header == []:
        header = next(reader, None)
    _check_header(header)
    fieldnames = [h.strip() for h in header or []]
    parser = RowParser(fieldnames, shop)
    total_rows = max(count_lines(path) - 1, 0)
    seen = SeenIds()

    def batch(rows_of: Callable[[], Rows], chunk: Chunk, pids: list[str],
              prepared: PreparedOrders | None, records: Sequence[OrderRecord]) -> Batch:
        """Refuse ids seen in earlier batches, remember this batch's, and build the batch."""
        rejected = chunk.rejected
        if pids:
            hashes = np.fromiter(map(hash, pids), np.int64, len(pids))
            lines_of = np.array(chunk.lines, dtype=np.int64)
            earlier = seen.find(hashes)
            if earlier.any():
                kept = []
                for rec, line, first, position in zip(records, chunk.lines, earlier,
                                                      chunk.positions, strict=True):
                    if first:
                        rejected.append(rejected_row(
                            fieldnames, line, f"order_id {rec.platform_id!r} already on line "
                            f"{first}", rows_of()[position][1]))
                    else:
                        kept.append(rec)
                records, prepared = kept, None
                rejected.sort(key=lambda r: r.line)
                fresh = earlier == 0
                hashes, lines_of = hashes[fresh], lines_of[fresh]
            seen.add(hashes, lines_of)
        meta: dict[str, object] = {"rejected": rejected, "rows": total_rows}
        if prepared is not None:
            prepared.first_seen = True  # (repeats of earlier batches' ids were refused above)
            meta["prepared"] = prepared
        return Batch(records if isinstance(records, LazyRecords) else tuple(records), meta=meta)

    def here(rows: Rows) -> Batch:
        chunk = parse_rows(parser, fieldnames, rows)
        return batch(lambda: rows, chunk, [r.platform_id for r in chunk.records], None,
                     chunk.records)

    workers = import_workers(total_rows)
    if not workers:
        for rows in file_rows(reader, lambda: reader.line_num):
            yield here(rows)
        return
    header_lines = reader.line_num
    source.close()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(fieldnames, shop.currency, shop.timezone))
    try:
        pending: deque[tuple[Callable[[], Rows], Future]] = deque()
        for task in _tasks(blocks(path, header_lines)):
            if isinstance(task, list):
                pending.append((lambda rows=task: rows, pool.submit(_parse_prepared, task)))
            else:
                pending.append((functools.cache(functools.partial(text_rows, *task)),
                                pool.submit(_parse_text, *task)))
            while len(pending) > workers:
                yield _collect(*pending.popleft(), parser, batch, here)
        while pending:
            yield _collect(*pending.popleft(), parser, batch, here)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _tasks(source: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str] | Rows]:
    """Yield a file's blocks of whole lines as they are, up to the first with a quote; from
    there, rows read here: a quoted field may hold line ends, so only the CSV reader itself
    knows where the next row starts."""
    for first_line, text in source:
        if '"' in text:
            break
        yield first_line, text
    else:
        return
    rest = itertools.chain(split_lines(text),
                           itertools.chain.from_iterable(split_lines(t) for _, t in source))
    reader = csv.reader(rest)
    start = first_line - 1
    yield from file_rows(reader, lambda: start + reader.line_num)


def _collect(rows_of: Callable[[], Rows], future: Future, parser: RowParser,
             batch: Callable[..., Batch], here: Callable[[Rows], Batch]) -> Batch:
    """Turn a worker's answer into the batch (rows it could not prepare: parsed here)."""
    chunk, prepared, pids = future.result()
    if prepared is None:
        return here(rows_of())
    positions = chunk.positions
    records = LazyRecords(parser, len(positions),
                          lambda: [rows_of()[p][1] for p in positions])
    return batch(rows_of, chunk, pids, prepared, records)


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
