"""RFM scores of ten customers with ties, worked out by hand.

score = 1 + ⌊5 · below / n⌋, below = customers with a strictly worse value, n = 10.

cust | days since last | R (worse) | orders | F (below) | net | M (below) | FM | segment
A    |   5 | 5 (8) | 1 | 1 (0) |  20 | 1 (1) | 1 | new
B    |   5 | 5 (8) | 3 | 4 (7) | 150 | 4 (7) | 4 | champions
C    |  10 | 4 (7) | 2 | 3 (5) |  80 | 3 (5) | 3 | potential loyalists
D    |  30 | 3 (5) | 1 | 1 (0) |  20 | 1 (1) | 1 | about to sleep
E    |  30 | 3 (5) | 5 | 5 (9) | 400 | 5 (9) | 5 | loyal
F    |  60 | 3 (4) | 1 | 1 (0) |  35 | 2 (3) | 2 | need attention
G    |  90 | 2 (3) | 2 | 3 (5) |  80 | 3 (5) | 3 | at risk
H    | 120 | 2 (2) | 1 | 1 (0) |  10 | 1 (0) | 1 | hibernating
I    | 200 | 1 (1) | 4 | 5 (8) | 150 | 4 (7) | 5 | can't lose
J    | 400 | 1 (0) | 1 | 1 (0) |  50 | 3 (4) | 2 | hibernating

FM = ⌈(F + M) / 2⌉.
Ties: A/B share R 5, D/E share R 3 (F, with 4 worse, also gets 3), the five one-order customers
all have F 1, C/G share F 3 and M 3, B/I share M 4, A/D share M 1.
"""

from __future__ import annotations

import numpy as np

from stammkunde.core.segments.rfm import (
    SEGMENTS,
    fm_scores,
    quintile_scores,
    rfm_scores,
    segments,
)

DAYS = [5, 5, 10, 30, 30, 60, 90, 120, 200, 400]
ORDERS = [1, 3, 2, 1, 5, 1, 2, 1, 4, 1]
NET = [20, 150, 80, 20, 400, 35, 80, 10, 150, 50]


def test_ten_customers_with_ties() -> None:
    r, f, m = rfm_scores(DAYS, ORDERS, NET)
    assert r.tolist() == [5, 5, 4, 3, 3, 3, 2, 2, 1, 1]
    assert f.tolist() == [1, 4, 3, 1, 5, 1, 3, 1, 5, 1]
    assert m.tolist() == [1, 4, 3, 1, 5, 2, 3, 1, 4, 3]
    fm = fm_scores(f, m)
    assert fm.tolist() == [1, 4, 3, 1, 5, 2, 3, 1, 5, 2]
    assert segments(r, fm) == [
        "new", "champions", "potential loyalists", "about to sleep", "loyal", "need attention",
        "at risk", "hibernating", "can't lose", "hibernating"]


def test_order_of_customers_does_not_matter() -> None:
    perm = np.array([9, 3, 0, 7, 1, 8, 2, 6, 4, 5])
    r, f, m = rfm_scores(np.array(DAYS)[perm], np.array(ORDERS)[perm], np.array(NET)[perm])
    r0, f0, m0 = rfm_scores(DAYS, ORDERS, NET)
    assert (r.tolist(), f.tolist(), m.tolist()) == (
        r0[perm].tolist(), f0[perm].tolist(), m0[perm].tolist())


def test_everyone_tied_has_nothing_to_rank() -> None:
    assert quintile_scores([7, 7, 7, 7]).tolist() == [1, 1, 1, 1]
    assert quintile_scores([]).tolist() == []


def test_five_distinct_values_are_five_quintiles() -> None:
    assert quintile_scores([50, 10, 40, 20, 30]).tolist() == [5, 1, 4, 2, 3]


def test_every_cell_of_the_grid_has_a_segment_and_every_segment_a_cell() -> None:
    r, fm = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    names = segments(r.ravel(), fm.ravel())
    assert set(names) == set(SEGMENTS)
    assert segments([4, 1, 5, 2], [1, 1, 5, 5]) == ["promising", "lost", "champions",
                                                     "can't lose"]
