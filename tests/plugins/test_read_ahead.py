"""The import reads the next batches in a background thread while it stores one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from stammkunde.core.records import Batch
from stammkunde.plugins.ingest import read_ahead


def _batches(n: int, fail_at: int | None = None, log: list[int] | None = None) -> Iterator[Batch]:
    for i in range(n):
        if i == fail_at:
            raise RuntimeError(f"adapter broke at {i}")
        if log is not None:
            log.append(i)
        yield Batch((), cursor=str(i))


def test_every_batch_arrives_in_order() -> None:
    assert [b.cursor for b in read_ahead(_batches(50))] == [str(i) for i in range(50)]


def test_an_adapter_error_is_raised_after_the_batches_before_it() -> None:
    seen = []
    with pytest.raises(RuntimeError, match="adapter broke at 3"):
        for batch in read_ahead(_batches(10, fail_at=3)):
            seen.append(batch.cursor)
    assert seen == ["0", "1", "2"]


def test_a_caller_that_stops_early_stops_the_reader() -> None:
    log: list[int] = []
    reader = read_ahead(_batches(1000, log=log), depth=2)
    assert next(reader).cursor == "0"
    reader.close()  # e.g. a sync told to stop after one batch
    assert not [t for t in threading.enumerate() if t.name == "stammkunde-read-ahead"]
    assert len(log) <= 4  # the one taken, two waiting, one being put: not the whole source
