"""The customers a first load created, kept in memory so that its later batches find them without
a query (:class:`LoadedCustomers`).

A load of a million orders of a quarter of a million customers otherwise looks every order's
customer up in the database: about a million index lookups, most of them for customers the same
load created a few batches earlier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: At most this many customers are kept (40 bytes each, 16 MB); a larger load looks the others
#: up (a load of 5 million orders must stay below 500 MB with its parser workers).
CAPACITY = 400_000
#: Runs stop growing at this many customers, so a merge never copies more than about 10 MB.
MAX_RUN = 1 << 17


SALT = "\x00"  # (the second hash is the first of the salted key)


class HashRuns:
    """64-bit hashes, each with a row of ``width`` integers, in sorted numpy runs merged like a
    binary counter (adding n hashes costs O(n log n)); runs stop growing at ``max_run`` hashes,
    so a merge never copies more than one such run and its rows."""

    def __init__(self, max_run: int, width: int) -> None:
        self.max_run = max_run
        self.width = width
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return, per hash, whether it is stored and the row of its first match (zeros for
        those that are not)."""
        order = np.argsort(hashes)  # (sorted needles: each search starts where the last ended)
        needles = hashes[order]
        rows = np.zeros((len(hashes), self.width), dtype=np.int64)
        matched = np.zeros(len(hashes), dtype=bool)
        for keys, stored in self.runs:
            pos = np.minimum(np.searchsorted(keys, needles), len(keys) - 1)
            match = (keys[pos] == needles) & ~matched
            rows[match] = stored[pos[match]]
            matched |= match
        found, found_rows = np.empty_like(matched), np.empty_like(rows)
        found[order], found_rows[order] = matched, rows
        return found, found_rows

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Store hashes with their rows (one row of integers per hash)."""
        if not len(hashes):
            return
        order = np.argsort(hashes, kind="stable")
        self.runs.append((hashes[order], rows[order]))
        while (len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0])
               and len(self.runs[-2][0]) + len(self.runs[-1][0]) <= self.max_run):
            (k1, r1), (k2, r2) = self.runs.pop(), self.runs.pop()
            # merge two sorted runs into one new pair of arrays: no index array of the whole
            at = np.searchsorted(k2, k1)
            self.runs.append((np.insert(k2, at, k1), np.insert(r2, at, r1, axis=0)))
            del k1, r1, k2, r2, at


def key_hashes(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return two 64-bit hashes of each customer key (the second tells apart keys whose first
    hashes are equal)."""
    n = len(keys)
    return (np.fromiter(map(hash, keys), np.int64, n),
            np.fromiter(map(hash, map(SALT.__add__, keys)), np.int64, n))


def mail_hash(email: str | None) -> int:
    """Return a 64-bit hash of a normalised e-mail (0 for none)."""
    return hash(email) if email else 0


class LoadedCustomers:
    """The customers a first load created: key -> (customer id, person id, e-mail hash).

    Valid while the load alone writes customers: a first load holds the customers table (on
    PostgreSQL its dropped keys lock it, on SQLite the write lock does), and only its orders
    create customers. A customer whose order goes the one-by-one path is forgotten (the path
    may move it to another person), and storing customer or event records drops the whole
    directory (:func:`stammkunde.core.store.upsert_customers`).

    ``complete`` says the shop had no customers when the load began and none was left out for
    lack of room, so a key that is neither here nor forgotten is a new customer. Keys are told
    apart by two 64-bit hashes (a first-hash match whose second hash differs is looked up in the
    database), e-mails by one: an e-mail change is missed only if the old and new addresses
    share a 64-bit hash. Memory: :class:`HashRuns` (as ``SeenIds`` in the CSV reader), 40 bytes
    a customer.
    """

    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.size = 0
        #: first hashes with rows of [second hash, customer id, person id, e-mail hash]
        self.stored = HashRuns(MAX_RUN, 4)
        self.forgotten: set[str] = set()

    @property
    def runs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The sorted runs of first hashes and their rows."""
        return self.stored.runs

    def find(self, keys: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]]:
        """Return the known customers among ``keys`` (their keys and rows of [customer id,
        person id, e-mail hash]) and the keys to look up in the database."""
        n = len(keys)
        if not n:
            return [], np.zeros((0, 3), dtype=np.int64), []
        first, second = key_hashes(keys)
        matched, rows = self.stored.find(first)
        hit = matched & (rows[:, 0] == second)
        ask = ~hit if not self.complete else matched & ~hit  # (unsure: the second hash differs)
        if self.forgotten:
            gone = np.fromiter((k in self.forgotten for k in keys), bool, n)
            ask |= gone  # (also those the one-by-one path created)
            hit &= ~gone
        return ([keys[i] for i in np.flatnonzero(hit).tolist()], rows[hit, 1:],
                [keys[i] for i in np.flatnonzero(ask).tolist()])

    def add(self, created: Iterable[tuple[str, int, int, str | None]]) -> None:
        """Remember customers the load created: (key, customer id, person id, normalised
        e-mail)."""
        entries = list(created)
        if not entries:
            return
        if self.size + len(entries) > CAPACITY:
            self.complete = False  # (these stay in the database only)
            return
        self.size += len(entries)
        first, second = key_hashes([key for key, _, _, _ in entries])
        rows = np.array([(cid, person, mail_hash(email)) for _, cid, person, email in entries],
                        dtype=np.int64)
        self.stored.add(first, np.column_stack((second, rows)))

    def forget(self, keys: Iterable[str]) -> None:
        """Look these customers up in the database from now on (the one-by-one path may change
        them)."""
        self.forgotten.update(keys)
