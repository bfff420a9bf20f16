"""Count what a sync stores: the size of each ``store_records`` call and each commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event


@contextmanager
def stores_and_commits(monkeypatch: pytest.MonkeyPatch,
                       engine: Engine) -> Iterator[tuple[list[int], list[int]]]:
    """Yield (records per store call of the ingest module, one entry per commit on the engine)."""
    import stammkunde.plugins.ingest as ingest

    stored: list[int] = []
    commits: list[int] = []
    real = ingest.store_records

    def counting(session, shop, records):  # type: ignore[no-untyped-def]
        stored.append(len(records))
        return real(session, shop, records)

    def listener(conn) -> None:  # type: ignore[no-untyped-def]
        commits.append(1)

    monkeypatch.setattr(ingest, "store_records", counting)
    event.listen(engine, "commit", listener)
    try:
        yield stored, commits
    finally:
        event.remove(engine, "commit", listener)
