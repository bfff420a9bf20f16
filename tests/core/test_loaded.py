"""The customers a first load created, found again without the database."""

from __future__ import annotations

import numpy as np
import pytest

from stammkunde.core import loaded
from stammkunde.core.loaded import LoadedCustomers, key_hashes, mail_hash


def found(directory: LoadedCustomers, keys: list[str]) -> tuple[dict, list[str]]:
    """find() as {key: (customer, person, e-mail hash)} and the keys to ask the database."""
    keys_found, rows, ask = directory.find(keys)
    return dict(zip(keys_found, map(tuple, rows.tolist()), strict=True)), ask


def test_created_customers_are_found_and_unknown_keys_are_new_when_complete() -> None:
    directory = LoadedCustomers(complete=True)
    directory.add([("c1", 10, 100, "a@example.com"), ("guest:b@example.com", 11, 101,
                                                       "b@example.com")])
    directory.add([("c3", 12, 102, None)])
    got, ask = found(directory, ["c3", "c1", "c9", "guest:b@example.com"])
    assert got == {"c1": (10, 100, mail_hash("a@example.com")),
                   "guest:b@example.com": (11, 101, mail_hash("b@example.com")),
                   "c3": (12, 102, 0)}
    assert ask == []  # c9: the shop had no customers and the load did not create it
    assert found(LoadedCustomers(complete=False), ["c1"]) == ({}, ["c1"])


def test_forgotten_customers_and_an_incomplete_directory_go_to_the_database() -> None:
    directory = LoadedCustomers(complete=True)
    directory.add([("c1", 10, 100, "a@example.com"), ("c2", 11, 101, "b@example.com")])
    directory.forget(["c1", "c7"])  # c7: created by the one-by-one path, not here
    got, ask = found(directory, ["c1", "c2", "c5", "c7"])
    assert (got, sorted(ask)) == ({"c2": (11, 101, mail_hash("b@example.com"))}, ["c1", "c7"])
    directory.complete = False
    got, ask = found(directory, ["c1", "c2", "c5"])
    assert (list(got), sorted(ask)) == (["c2"], ["c1", "c5"])


def test_a_first_hash_shared_by_two_keys_is_asked_not_guessed(monkeypatch) -> None:
    """Keys whose first hashes are equal but second differ: the one not stored is looked up."""
    def colliding(keys):  # type: ignore[no-untyped-def]
        first = np.full(len(keys), 42, dtype=np.int64)
        second = np.array([len(k) for k in keys], dtype=np.int64)
        return first, second

    monkeypatch.setattr(loaded, "key_hashes", colliding)
    directory = LoadedCustomers(complete=True)
    directory.add([("c1", 10, 100, None)])
    got, ask = found(directory, ["c1", "c22"])
    assert got == {"c1": (10, 100, 0)}
    assert ask == ["c22"]


def test_runs_merge_and_stop_at_the_capacity(monkeypatch) -> None:
    monkeypatch.setattr(loaded, "MAX_RUN", 64)
    monkeypatch.setattr(loaded, "CAPACITY", 500)
    directory = LoadedCustomers(complete=True)
    for lo in range(0, 480, 16):
        directory.add([(f"k{i}", i, 1000 + i, f"{i}@example.com") for i in range(lo, lo + 16)])
    assert directory.size == 480 and max(len(h) for h, _ in directory.runs) <= 64
    assert sum(len(h) for h, _ in directory.runs) == 480
    keys = [f"k{i}" for i in range(0, 480, 7)]
    assert found(directory, keys) == (
        {f"k{i}": (i, 1000 + i, mail_hash(f"{i}@example.com")) for i in range(0, 480, 7)}, [])
    directory.add([(f"k{i}", i, i, None) for i in range(480, 500 + 1)])  # no room: left out
    assert directory.size == 480 and not directory.complete
    assert found(directory, ["k490"]) == ({}, ["k490"])


def test_key_hashes_differ_between_the_two_hashes() -> None:
    first, second = key_hashes(["c1", "c2"])
    assert first.tolist() == [hash("c1"), hash("c2")]
    assert second.tolist() == [hash("\x00c1"), hash("\x00c2")]


@pytest.mark.parametrize("kind", ["customers", "events"])
def test_storing_customer_or_event_records_drops_the_directory(sessions, kind) -> None:
    from stammkunde.core import store
    from stammkunde.core.bulk import LOADED_CUSTOMERS
    from stammkunde.core.shops import create_shop

    with sessions.begin() as s:
        shop = create_shop(s, "till", "csv")
        s.info[LOADED_CUSTOMERS] = LoadedCustomers(complete=True)
        getattr(store, f"upsert_{kind}")(s, shop, [])
        assert LOADED_CUSTOMERS not in s.info
