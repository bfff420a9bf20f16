"""Scores of a seven-person shop, one per lifecycle stage, worked out by hand.

Shop "s" (UTC), as of 2024-06-30 00:00Z, default settings (return window 30 days, so orders after
May 31 00:00 are pending; 1 point per unit of net spend, account 50, review 25, newsletter 10).

person | orders (net)                                 | own gap | days since | ratio | stage
Pia    | none; account created May 1, newsletter Jun 1 |        |            |       | prospect
Nina   | Jun 20 120 (guest); newsletter Jun 21         | shop 30 | 10         | 0.33  | new
Rolf   | Apr 1 50, May 1 50-20 (refund May 5), Jun 10 50 (code SPRING) | 35 | 20 | 0.57 | repeat
Lena   | Mar 1, Mar 31, Apr 30, May 30, 40 each; review Jun 1 | 30 | 31      | 1.03  | loyal
Arne   | Apr 1 60, May 1 60, May 20 70 cancelled May 22 | 30     | 60         | 2.0   | at risk
Lara   | Mar 2 45, Apr 1 45 (guest); review Jun 5 with its own 40 points | 30 | 90 | 3.0 | lapsed
Lutz   | Jan 1 99.99 (guest, code WELCOME)             | shop 30 | 181        | 6.03  | lost

The shop's typical gap is the median of the repeat customers' own means (35, 30, 30, 30) = 30.

points | pending | available                       | reversed         | tier   | type
Pia    | 0       | 50 account + 10 newsletter = 60 | 0                | member | latent
Nina   | 120     | 10 newsletter                   | 0                | member | latent
Rolf   | 50      | 80 + 50 account = 130           | 150 − 50 − 80 = 20 | loyal | spurious
Lena   | 0       | 160 + 50 + 25 review = 235      | 0                | loyal  | true
Arne   | 0       | 120 + 50 = 170                  | 190 − 120 = 70   | loyal  | spurious
Lara   | 0       | 90 + 40 = 130                   | 0                | loyal  | true
Lutz   | 0       | ⌊99.99⌋ = 99                    | 0                | member | none

Types: Pia is an engaged prospect, Nina engaged with one full-price order (latent); Rolf and
Arne repeat without engaging (spurious); Lena and Lara repeat, engage and pay full price (true).
Accounts: Rolf, Arne (customer ids on their orders), Lena and Pia (customer records); Nina, Lara
and Lutz are guests. With 6 customers there is no predictive model.

Win-back (heuristic, margin 0.3, base rate 0.2, lapsed ratio 2.5, incentive share 0.5):
Lutz: P = 0.2 × 2.5 / (181/30) = 0.0828729, value = P × 99.99 × 0.3 = 2.485939,
      incentive ⌊0.5 × 99.99 × 0.3 = 14.9985⌋ = 14
Lara: P = 0.2 × 2.5 / 3 = 0.1666667, value = P × 45 × 0.3 = 2.25, incentive ⌊6.75⌋ = 6
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from stammkunde.core.records import CustomerRecord, EventRecord, OrderStatus
from stammkunde.core.segments import customer_rows, score_customers, score_report
from stammkunde.core.segments import win_back_targets as targets
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop, store_records
from tests.factories import at, order

RECORDS = [
    CustomerRecord("P1", email="pia@example.com", created_at=at("2024-05-01T00:00:00Z")),
    CustomerRecord("L1", email="lena@example.com", created_at=at("2024-02-01T00:00:00Z")),
    EventRecord("e1", "newsletter", at("2024-06-01T00:00:00Z"), customer_id="P1"),
    order("n1", "2024-06-20T00:00:00Z", "120.00", email="nina@example.com"),
    EventRecord("e2", "newsletter", at("2024-06-21T00:00:00Z"), email="nina@example.com"),
    order("r1", "2024-04-01T00:00:00Z", "50.00", customer="R1"),
    order("r2", "2024-05-01T00:00:00Z", "50.00", customer="R1",
          refunds=(("20.00", "2024-05-05T00:00:00Z"),)),
    order("r3", "2024-06-10T00:00:00Z", "50.00", customer="R1", codes=("SPRING",)),
    *(order(f"l{i}", when, "40.00", customer="L1", email="lena@example.com")
      for i, when in enumerate(["2024-03-01T00:00:00Z", "2024-03-31T00:00:00Z",
                                "2024-04-30T00:00:00Z", "2024-05-30T00:00:00Z"])),
    EventRecord("e3", "review", at("2024-06-01T00:00:00Z"), customer_id="L1"),
    order("a1", "2024-04-01T00:00:00Z", "60.00", customer="A1"),
    order("a2", "2024-05-01T00:00:00Z", "60.00", customer="A1"),
    order("a3", "2024-05-20T00:00:00Z", "70.00", customer="A1", status=OrderStatus.CANCELLED,
          cancelled="2024-05-22T00:00:00Z"),
    order("la1", "2024-03-02T00:00:00Z", "45.00", email="lara@example.com"),
    order("la2", "2024-04-01T00:00:00Z", "45.00", email="lara@example.com"),
    EventRecord("e4", "review", at("2024-06-05T00:00:00Z"), email="lara@example.com",
                points=40),
    order("u1", "2024-01-01T00:00:00Z", "99.99", email="lutz@example.com", codes=("WELCOME",)),
]
NAMES = {"P1": "Pia", "guest:nina@example.com": "Nina", "R1": "Rolf", "L1": "Lena",
         "A1": "Arne", "guest:lara@example.com": "Lara", "guest:lutz@example.com": "Lutz"}


@pytest.fixture
def shop(sessions):  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        store_records(s, create_shop(s, "s", "csv"), RECORDS)
    return "s"


def scores(sessions, when: str, settings: RetentionSettings | None = None):  # type: ignore[no-untyped-def]
    with sessions() as s:
        return score_customers(s, get_shop(s, "s"), at(when), settings or RetentionSettings())


def by_name(sc) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {NAMES[r["customer_id"]]: r for r in customer_rows(sc)}


def test_each_lifecycle_stage(sessions, shop) -> None:
    sc = scores(sessions, "2024-06-30T00:00:00Z")
    rows = by_name(sc)
    assert {n: r["lifecycle"] for n, r in rows.items()} == {
        "Pia": "prospect", "Nina": "new", "Rolf": "repeat", "Lena": "loyal",
        "Arne": "at risk", "Lara": "lapsed", "Lutz": "lost"}
    assert sc.shop_gap_days == 30.0
    assert rows["Rolf"]["days_since_last_order"] == 20.0
    assert rows["Lutz"]["days_since_last_order"] == 181.0
    assert rows["Pia"]["orders"] == 0 and rows["Pia"]["segment"] is None
    assert [n for n in (NAMES[r["customer_id"]] for r in customer_rows(sc))] == [
        "Lena", "Rolf", "Nina", "Arne", "Lutz", "Lara", "Pia"]  # most net first, ties by person


def test_points_ledger_pending_available_reversed(sessions, shop) -> None:
    rows = by_name(scores(sessions, "2024-06-30T00:00:00Z"))
    ledger = {n: (r["points_pending"], r["points_available"], r["points_reversed"], r["tier"])
              for n, r in rows.items()}
    assert ledger == {
        "Pia": (0, 60, 0, "member"),
        "Nina": (120, 10, 0, "member"),
        "Rolf": (50, 130, 20, "loyal"),
        "Lena": (0, 235, 0, "loyal"),
        "Arne": (0, 170, 70, "loyal"),
        "Lara": (0, 130, 0, "loyal"),
        "Lutz": (0, 99, 0, "member"),
    }


def test_points_as_they_were_before_the_refund(sessions, shop) -> None:
    # May 3: Rolf's May 1 order is pending (window from Apr 3), the refund of May 5 not yet made;
    # Arne's cancelled order does not exist yet; Pia's account exists, her newsletter not yet.
    rows = by_name(scores(sessions, "2024-05-03T00:00:00Z"))
    assert (rows["Rolf"]["points_pending"], rows["Rolf"]["points_available"],
            rows["Rolf"]["points_reversed"]) == (50, 100, 0)
    assert (rows["Arne"]["points_pending"], rows["Arne"]["points_reversed"]) == (60, 0)
    assert rows["Pia"]["points_available"] == 50
    assert "Nina" not in rows and "Lutz" in rows


def test_pending_points_become_available_after_the_return_window(sessions, shop) -> None:
    rows = by_name(scores(sessions, "2024-07-21T00:00:00Z"))
    nina = rows["Nina"]
    assert (nina["points_pending"], nina["points_available"], nina["tier"]) == (0, 130, "loyal")


def test_people_appear_only_once_the_shop_knows_them(sessions, shop) -> None:
    rows = by_name(scores(sessions, "2024-04-30T00:00:00Z"))
    assert "Pia" not in rows  # account created May 1
    assert sorted(rows) == ["Arne", "Lara", "Lena", "Lutz", "Rolf"]


def test_loyalty_types(sessions, shop) -> None:
    rows = by_name(scores(sessions, "2024-06-30T00:00:00Z"))
    assert {n: r["loyalty_type"] for n, r in rows.items()} == {
        "Pia": "latent", "Nina": "latent", "Rolf": "spurious", "Lena": "true",
        "Arne": "spurious", "Lara": "true", "Lutz": "none"}


def test_custom_weights_and_tiers(sessions, shop) -> None:
    settings = RetentionSettings(points={"spend": Decimal("0.1"), "review": 5},
                                 tiers={"bronze": 10, "silver": 20}, return_window_days=0)
    rows = by_name(scores(sessions, "2024-06-30T00:00:00Z", settings))
    # no account points, newsletter earns nothing, Lara's review keeps its own 40 points
    assert {n: (r["points_pending"], r["points_available"], r["tier"])
            for n, r in rows.items()} == {
        "Pia": (0, 0, None), "Nina": (0, 12, "bronze"), "Rolf": (0, 13, "bronze"),
        "Lena": (0, 21, "silver"), "Arne": (0, 12, "bronze"), "Lara": (0, 49, "silver"),
        "Lutz": (0, 9, None)}


def test_win_back_ranking_and_incentive(sessions, shop) -> None:
    ranked = targets(scores(sessions, "2024-06-30T00:00:00Z"))
    assert [(r["rank"], NAMES[r["customer_id"]], r["lifecycle"]) for r in ranked] == [
        (1, "Lutz", "lost"), (2, "Lara", "lapsed")]
    lutz, lara = ranked
    assert lutz["p_win_back"] == pytest.approx(0.2 * 2.5 * 30 / 181)
    assert lutz["expected_order_value"] == Decimal("99.99")
    assert lutz["expected_value"] == Decimal("2.4859")
    assert lutz["incentive"] == Decimal(14)
    assert lara["p_win_back"] == pytest.approx(0.2 * 2.5 / 3)
    assert (lara["expected_value"], lara["incentive"]) == (Decimal("2.2500"), Decimal(6))
    assert len(targets(scores(sessions, "2024-06-30T00:00:00Z"), limit=1)) == 1


def test_report_section_counts(sessions, shop) -> None:
    section = score_report(scores(sessions, "2024-06-30T00:00:00Z"), 4 / 6)
    assert section["clv_model"] == {
        "available": False, "code": "too_few_customers",
        "reason": "6 customers; the predictive model needs at least 30."}
    assert section["lifecycle"] == {"prospect": 1, "new": 1, "repeat": 1, "loyal": 1,
                                    "at risk": 1, "lapsed": 1, "lost": 1}
    assert section["tiers"] == {"member": 3, "loyal": 4}
    assert section["loyalty_types"] == {"true": 2, "latent": 2, "spurious": 2, "none": 1}
    assert sum(section["segments"].values()) == 6
    assert section["clv_by_first_code"] == {
        "(none)": {"customers": 5, "historic_clv": Decimal("124.0000"), "predicted_clv": None,
                   "predicted_clv_total": None},
        "welcome": {"customers": 1, "historic_clv": Decimal("99.9900"), "predicted_clv": None,
                    "predicted_clv_total": None}}
    assert list(section["clv_by_channel"]) == ["online"]
    # repeat rate 4/6 ± 1.96·√(4/6·2/6/6) = ±38 points
    assert section["notes"][1].startswith(
        "With 6 customers, rates and averages move a lot with each order (the repeat rate is "
        "known to about ±38 percentage points)")


def test_empty_shop_scores_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        create_shop(s, "empty", "csv")
    with sessions() as s:
        sc = score_customers(s, get_shop(s, "empty"), at("2024-06-30T00:00:00Z"),
                             RetentionSettings())
    section = score_report(sc)
    assert len(sc) == 0 and customer_rows(sc) == [] and targets(sc) == []
    assert section["clv_model"]["code"] == "no_customers"
    assert set(section["lifecycle"].values()) == {0} and section["clv_by_channel"] == {}
