"""Loaders for the real public transaction logs in tests/data (see tests/data/README.md)."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class TransactionLog:
    """Orders as arrays: customer index, day (float days since the epoch) and value."""

    customer: np.ndarray
    day: np.ndarray
    value: np.ndarray


def _read(name: str) -> list[dict[str, str]]:
    with gzip.open(DATA / name, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def _days(dates: list[str]) -> np.ndarray:
    return np.array(dates, dtype="datetime64[D]").astype(np.int64).astype(float)


def online_retail() -> TransactionLog:
    """UCI "Online Retail": one row per invoice with a customer, 2010-12-01 … 2011-12-09 (GBP)."""
    rows = _read("online_retail_invoices.csv.gz")
    return TransactionLog(np.array([int(r["customer"]) for r in rows], dtype=np.int64),
                          _days([r["date"] for r in rows]),
                          np.array([float(r["total"]) for r in rows]))


def grocery() -> TransactionLog:
    """BTYDplus ``groceryElog``: 1,525 customers of an online grocery, 2006-2007 (no values)."""
    rows = _read("grocery_elog.csv.gz")
    return TransactionLog(np.array([int(r["customer"]) for r in rows], dtype=np.int64),
                          _days([r["date"] for r in rows]), np.ones(len(rows)))


def day_of(date: str) -> float:
    """An ISO date as float days since the epoch."""
    return float(np.datetime64(date, "D").astype(np.int64))
