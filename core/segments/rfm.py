"""RFM scores (1–5, quintiles within the shop) and the named segments they map to.

Scores: R from the whole days since the last valid order (fewer is better), F from the number of
valid orders, M from net revenue. Each is a rank-based quintile where ties take the rank of the
first of their group: with ``below`` customers having a strictly worse value, out of ``n``,

    score = 1 + ⌊5 · below / n⌋

so equal values always get equal scores (never split arbitrarily across two quintiles), customers
who bought once always have F = 1 however many of them there are, and the next group up starts at
the quintile of its share (if 60 % bought once, two-order customers have F = 4). A shop where
everyone ties has nothing to rank: everyone scores 1.
FM = ⌈(F + M) / 2⌉ (frequency and money together, rounded up).

Segments by R (rows) and FM (columns):

| R \\ FM | 1              | 2                   | 3                   | 4         | 5          |
| ------ | -------------- | ------------------- | ------------------- | --------- | ---------- |
| 5      | new            | potential loyalists | potential loyalists | champions | champions  |
| 4      | promising      | potential loyalists | potential loyalists | loyal     | champions  |
| 3      | about to sleep | need attention      | need attention      | loyal     | loyal      |
| 2      | hibernating    | about to sleep      | at risk             | at risk   | can't lose |
| 1      | lost           | hibernating         | at risk             | at risk   | can't lose |
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

SEGMENTS = ("champions", "loyal", "potential loyalists", "new", "promising", "need attention",
            "about to sleep", "at risk", "can't lose", "hibernating", "lost")

_GRID = {
    5: ("new", "potential loyalists", "potential loyalists", "champions", "champions"),
    4: ("promising", "potential loyalists", "potential loyalists", "loyal", "champions"),
    3: ("about to sleep", "need attention", "need attention", "loyal", "loyal"),
    2: ("hibernating", "about to sleep", "at risk", "at risk", "can't lose"),
    1: ("lost", "hibernating", "at risk", "at risk", "can't lose"),
}
# SEGMENT_TABLE[r, fm] is the index into SEGMENTS (row/column 0 unused).
SEGMENT_TABLE = np.zeros((6, 6), dtype=np.int64)
for _r, _row in _GRID.items():
    for _fm, _name in enumerate(_row, start=1):
        SEGMENT_TABLE[_r, _fm] = SEGMENTS.index(_name)


def quintile_scores(values: ArrayLike) -> NDArray[np.int64]:
    """Quintile score 1–5 of each value within the array (higher value, higher score)."""
    v = np.asarray(values)
    n = v.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ordered = np.sort(v)
    below = np.searchsorted(ordered, v, side="left")
    return (1 + (5 * below) // n).astype(np.int64)


def rfm_scores(days_since_last: ArrayLike, orders: ArrayLike,
               net_revenue: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                                NDArray[np.int64]]:
    """R, F and M scores (1–5) of customers; recency in whole days (fewer days, higher R)."""
    r = quintile_scores(-np.asarray(days_since_last))
    return r, quintile_scores(orders), quintile_scores(net_revenue)


def fm_scores(f: ArrayLike, m: ArrayLike) -> NDArray[np.int64]:
    """FM = ⌈(F + M) / 2⌉."""
    return (np.asarray(f) + np.asarray(m) + 1) // 2


def segment_index(r: ArrayLike, fm: ArrayLike) -> NDArray[np.int64]:
    """Index into :data:`SEGMENTS` for each (R, FM) pair."""
    return SEGMENT_TABLE[np.asarray(r), np.asarray(fm)]


def segments(r: ArrayLike, fm: ArrayLike) -> list[str]:
    """Segment names for (R, FM) pairs."""
    return [SEGMENTS[i] for i in segment_index(r, fm)]
