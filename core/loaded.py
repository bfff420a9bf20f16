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
    share a 64-bit hash. Memory: sorted numpy runs merged like a binary counter (as
    ``SeenIds`` in the CSV reader), 40 bytes a customer.
    """

    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.size = 0
        #: (first hashes, rows of [second hash, customer id, person id, e-mail hash]), sorted
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.forgotten: set[str] = set()

    def find(self, keys: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]]:
        """Return the known customers among ``keys`` (their keys and rows of [customer id,
        person id, e-mail hash]) and the keys to look up in the database."""
        n = len(keys)
        if not n:
            return [], np.zeros((0, 3), dtype=np.int64), []
        first, second = key_hashes(keys)
        order = np.argsort(first)  # (sorted needles: each search starts where the last ended)
        first, second = first[order], second[order]
        rows = np.zeros((n, 4), dtype=np.int64)
        matched = np.zeros(n, dtype=bool)
        for hashes, stored in self.runs:
            pos = np.minimum(np.searchsorted(hashes, first), len(hashes) - 1)
            match = (hashes[pos] == first) & ~matched
            rows[match] = stored[pos[match]]
            matched |= match
        hit = matched & (rows[:, 0] == second)
        ask = ~hit if not self.complete else matched & ~hit  # (unsure: the second hash differs)
        if self.forgotten:
            gone = np.fromiter((keys[i] in self.forgotten for i in order.tolist()), bool, n)
            ask |= gone  # (also those the one-by-one path created)
            hit &= ~gone
        return ([keys[i] for i in order[hit].tolist()], rows[hit, 1:],
                [keys[i] for i in order[ask].tolist()])

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
        rows = np.column_stack((second, rows))
        order = np.argsort(first, kind="stable")
        self.runs.append((first[order], rows[order]))
        while (len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0])
               and len(self.runs[-2][0]) + len(self.runs[-1][0]) <= MAX_RUN):
            (h2, r2), (h1, r1) = self.runs.pop(), self.runs.pop()
            hashes = np.concatenate((h1, h2))
            order = np.argsort(hashes, kind="stable")
            self.runs.append((hashes[order], np.concatenate((r1, r2))[order]))

    def forget(self, keys: Iterable[str]) -> None:
        """Look these customers up in the database from now on (the one-by-one path may change
        them)."""
        self.forgotten.update(keys)
