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


def test_an_adapter_of_the_one_argument_contract_still_parses_through_the_guard() -> None:
    """``parse_webhook(envelope)`` (the older contract) works, guarded, with a warning; the
    answer is found once per function, not per delivery."""
    from stammkunde.plugins import ingest
    from stammkunde.plugins.adapter import PlatformAdapter, ShopConnection, WebhookEnvelope
    from stammkunde.plugins.manager import GuardedAdapter

    class Old(PlatformAdapter):
        name = "old"

        def parse_webhook(self, envelope):  # type: ignore[no-untyped-def, override]
            return [envelope.topic]

    class New(PlatformAdapter):
        name = "new"

        def parse_webhook(self, envelope, shop):  # type: ignore[no-untyped-def, override]
            return [envelope.topic, shop.name]

    envelope = WebhookEnvelope(platform="old", topic="orders/create", shop_domain=None,
                               delivery_id="1", raw_body=b"{}", headers={})
    shop = ShopConnection(name="s", platform="old", domain=None, currency="EUR",
                          timezone="UTC")
    with pytest.warns(DeprecationWarning, match="Old.parse_webhook"):
        assert ingest.parse_delivery(GuardedAdapter(Old(), "old"), envelope, shop) == [
            "orders/create"]
    assert ingest.parse_delivery(GuardedAdapter(New(), "new"), envelope, shop) == [
        "orders/create", "s"]
    assert ingest._ONE_ARGUMENT[Old.parse_webhook] is True
    assert ingest._ONE_ARGUMENT[New.parse_webhook] is False
