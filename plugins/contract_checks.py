"""Checks behind the adapter contract kit: canonical records, batches, sample calls, headers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core import records as rec
from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.records import Batch, Record
from stammkunde.core.store import validate_order
from stammkunde.plugins.adapter import (
    DiscountOffer,
    DiscountTarget,
    PlatformAdapter,
    ShopConnection,
    WebhookEnvelope,
)

CANONICAL: tuple[type, ...] = tuple(
    t for t in vars(rec).values()
    if isinstance(t, type) and t.__module__ == rec.__name__ and t.__name__.endswith(
        ("Record", "Deleted", "Request", "Redact", "Uninstalled"))
)
MONEY_FIELDS = frozenset({"total", "amount", "price"})


def check_record(record: object) -> None:
    """Fail unless ``record`` is a canonical record with aware UTC times and Decimal money."""
    assert isinstance(record, CANONICAL), (
        f"{type(record).__name__} is not a canonical record (stammkunde.core.records)"
    )
    _check_values(record, type(record).__name__)
    if isinstance(record, rec.OrderRecord):
        validate_order(record)


def _check_values(obj: object, where: str) -> None:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        label = f"{where}.{f.name}"
        if isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0), (
                f"{label} = {value!r} must be timezone-aware UTC"
            )
        elif f.name in MONEY_FIELDS and value is not None:
            assert isinstance(value, Decimal), f"{label} must be a Decimal, not {type(value)}"
            assert value.is_finite(), f"{label} must be finite"
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    _check_values(item, f"{label}[{i}]")


def record_key(record: Record) -> tuple[str, str]:
    """Return (kind, platform id) identifying a record across fetches."""
    return type(record).__name__, str(getattr(record, "platform_id", repr(record)))


def collect(batches: Iterable[Batch]) -> list[Batch]:
    """Exhaust a fetch, checking that it yields Batch objects of canonical records."""
    out = []
    for batch in batches:
        assert isinstance(batch, Batch), f"fetch yielded {type(batch).__name__}, not a Batch"
        for record in batch.records:
            check_record(record)
        out.append(batch)
    return out


def temporary_sessions(directory: Path) -> sessionmaker[Session]:
    """Return a session factory on a fresh SQLite database in ``directory``."""
    engine = make_engine(f"sqlite:///{directory / 'contract.db'}")
    upgrade(engine)
    return session_factory(engine)


def call_with_samples(adapter: PlatformAdapter, method: str) -> object:
    """Call an adapter method with harmless sample arguments (to see it raise Unsupported)."""
    conn = ShopConnection(name="contract", platform=adapter.name)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    env = WebhookEnvelope(platform=adapter.name, topic="x", shop_domain=None, delivery_id="1",
                          raw_body=b"{}")
    offer = DiscountOffer(title="x", kind="percentage", value=Decimal(1), starts_at=when)
    args: dict[str, tuple[Any, ...]] = {
        "import_file": (Path("missing.csv"), None, conn),
        "verify_webhook": ({}, b"{}", "secret"),
        "parse_webhook": (env, conn),
        "subscribe_webhooks": (conn, "https://example.invalid"),
        "fetch_orders": (conn, None, None),
        "fetch_customers": (conn, None, None),
        "push_discounts": (conn, offer, [DiscountTarget("1", None, "X")]),
        "tag_customers": (conn, "t", ["1"]),
        "set_customer_fields": (conn, "stammkunde", {"1": {"offer_code": "X"}}),
        "install_url": ("shop.example", "https://example.invalid/cb", "state", "key"),
        "verify_install_query": ({}, "secret"),
        "exchange_install_code": ("shop.example", "code", "key", "secret"),
    }
    result = getattr(adapter, method)(*args[method])
    if isinstance(result, Iterator):
        next(result, None)  # generators raise on first use
    return result


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header's value, matching its name case-insensitively."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Replace a header whatever the case of its name."""
    del_header(headers, name)
    headers[name] = value


def del_header(headers: dict[str, str], name: str) -> None:
    """Remove a header whatever the case of its name."""
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
