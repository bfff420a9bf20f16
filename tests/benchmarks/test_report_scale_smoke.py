"""The scale benchmark at a tiny size: what it loads is exactly what the report counts."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.services import need_service, pg_available

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "report_scale.py"



def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("report_scale", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script()


def test_generated_shop_has_the_asked_sizes_and_valid_columns(bench: ModuleType) -> None:
    shop = bench.generate(300, 1500, seed=3)
    assert shop.acquired.size == 300 and shop.order_ts.size == 1500
    assert np.bincount(shop.order_customer, minlength=301)[1:].min() >= 1
    assert (np.diff(shop.order_ts) >= 0).all()
    assert ((shop.order_ts >= bench.START) & (shop.order_ts < bench.END)).all()
    assert (shop.refunded <= shop.total_units).all() and (shop.total_units % 100 == 0).all()
    assert not ((shop.refunded > 0) & (shop.cancelled_ts >= 0)).any()
    refunded = shop.refund_order - 1
    assert (shop.refund_ts[refunded] > shop.order_ts[refunded]).all()
    assert ((shop.refund_ts >= 0) == (shop.refunded > 0)).all()


def test_timestamps_are_formatted_like_the_datetime_column(bench: ModuleType) -> None:
    # 2024-02-29 23:59:59 UTC and 2026-01-01 00:00:00 UTC
    assert bench.stamps(np.array([1709251199, 1767225600])) == [
        "2024-02-29 23:59:59", "2026-01-01 00:00:00"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_report_counts_what_was_loaded(bench: ModuleType, backend: str) -> None:
    if backend == "postgresql":
        need_service(pg_available(), "PostgreSQL at 127.0.0.1:5432")
    results = bench.main(["--customers", "400", "--orders", "2000", "--backends", backend,
                          "--no-isolate", "--no-write"])
    load, report = results[backend]["load"], results[backend]["report"]
    assert load["rows"] > 2400 and load["load_s"] > 0
    assert (report["customers"], report["orders"]) == (load["customers"], load["orders"])
    assert Decimal(report["net_revenue"]) == Decimal(load["net_units"]) / 10_000
    assert report["channels"] == 4 and report["cohorts"] == 24
