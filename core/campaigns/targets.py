"""Who a campaign goes to: target specs (``KIND[:ARG]``), the resolver registry, built-in kinds.

A target spec is stored with the campaign as JSON ``{"kind": ..., "arg": ...}``. Resolving it
returns one :class:`TargetMember` per person (one human, merged by e-mail) with the customer
account the shop knows them by. Kinds live in a :class:`TargetKinds` registry: the built-ins work
from the orders and events already stored (here) and from the scores (segments, lifecycle stages,
loyalty tiers, win-back ranking: :mod:`.segment_targets`); plugins add their own through the
plugin manager, which owns the registry (hook ``register_target_kinds``).

Every kind leaves out customers who were redacted (privacy request), explicitly declined
marketing (``accepts_marketing`` is False) or unsubscribed from the shop's offers (an opt-out
recorded by the unsubscribe link of an offer e-mail). When a person has several customer records
in the shop (a guest checkout and an account with the same e-mail), the account is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from stammkunde.core.errors import UserError
from stammkunde.core.models import Customer, Order, Shop
from stammkunde.core.offer_models import MarketingOptOut
from stammkunde.core.timeutil import epoch_seconds

DAY = 86_400
CHUNK = 500
NEWLY_LAPSED_WINDOW_DAYS = 7
DEFAULT_REPURCHASE_DAYS = 30


@dataclass(frozen=True)
class TargetMember:
    """One person a campaign targets, with the shop's customer record for them."""

    person_id: int
    customer_platform_id: str
    email: str | None
    customer_id: int = 0  # database id of the customer row


PersonSelector = Callable[[Session, Shop, Any, datetime], Iterable[int]]


@dataclass(frozen=True)
class TargetKind:
    """A registered kind of target: how to read its argument and which persons it selects."""

    name: str
    description: str
    select: PersonSelector
    parse_arg: Callable[[str | None], Any]
    usage: str
    check: Callable[[Shop, Any], None] | None = None  # shop-specific validation at create


class TargetKinds:
    """A registry of target kinds: the built-ins plus what plugins add (owned by the manager).

    ``stammkunde.plugins.manager.Plugins.target_kinds()`` builds one per plugin manager, so two
    managers never share (or clash over) what their plugins registered.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, TargetKind] = {}

    def register(
        self, name: str, select: PersonSelector, *, description: str,
        parse_arg: Callable[[str | None], Any] | None = None, usage: str | None = None,
        check: Callable[[Shop, Any], None] | None = None, replace: bool = False,
    ) -> None:
        """Add a kind: ``select(session, shop, arg, as_of)`` yields the persons it targets."""
        if not name or not all(c.isalnum() or c == "-" for c in name):
            raise ValueError(f"invalid target kind name {name!r}")
        if name in self._kinds and not replace:
            raise ValueError(f"target kind {name!r} is already registered")
        self._kinds[name] = TargetKind(
            name=name, description=description, select=select,
            parse_arg=parse_arg or _no_arg(name), usage=usage or name, check=check,
        )

    def get(self, name: str) -> TargetKind:
        """Return a kind by name or a one-line error listing the known ones."""
        kind = self._kinds.get(name)
        if kind is None:
            known = ", ".join(sorted(self._kinds))
            raise UserError(f"unknown target kind {name!r} (known: {known})")
        return kind

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def all(self) -> list[TargetKind]:
        """Return every kind, sorted by name."""
        return [self._kinds[k] for k in sorted(self._kinds)]


def default_target_kinds() -> TargetKinds:
    """Return a new registry holding the built-in kinds (orders, explicit lists, scores)."""
    from stammkunde.core.campaigns.segment_targets import add_score_kinds

    kinds = TargetKinds()
    add_order_kinds(kinds)
    add_score_kinds(kinds)
    return kinds


def _no_arg(kind: str) -> Callable[[str | None], Any]:
    def parse(arg: str | None) -> None:
        if arg:
            raise UserError(f"target kind {kind!r} takes no argument (got {arg!r})")
        return None

    return parse


def positive_int(kind: str, what: str, *, optional: bool = False) -> Callable[[str | None], Any]:
    """Return an argument parser for a whole number ≥ 1 (e.g. days or orders)."""

    def parse(arg: str | None) -> int | None:
        if not arg:
            if optional:
                return None
            raise UserError(f"target kind {kind!r} needs {what}, e.g. {kind}:90")
        try:
            value = int(arg)
        except ValueError:
            raise UserError(f"target {kind}:{arg}: {what} must be a whole number") from None
        if value < 1:
            raise UserError(f"target {kind}:{arg}: {what} must be at least 1")
        return value

    return parse


def parse_target(text: str, kinds: TargetKinds | None = None) -> dict[str, Any]:
    """Parse ``KIND[:ARG]`` into a stored target spec, or raise a one-line UserError."""
    kind, _, arg = text.strip().partition(":")
    kind = kind.strip().lower()
    spec_kind = (kinds or default_target_kinds()).get(kind)
    return {"kind": kind, "arg": spec_kind.parse_arg(arg.strip() or None)}


def check_target(shop: Shop, spec: dict[str, Any], kinds: TargetKinds | None = None) -> None:
    """Run a kind's shop-specific check of its argument (e.g. a tier the shop defines)."""
    kind = (kinds or default_target_kinds()).get(spec["kind"])
    if kind.check is not None:
        kind.check(shop, spec.get("arg"))


def format_target(spec: dict[str, Any]) -> str:
    """Render a stored target spec as the ``KIND[:ARG]`` a merchant types."""
    arg = spec.get("arg")
    if arg is None:
        return str(spec["kind"])
    if isinstance(arg, list):
        shown = ",".join(map(str, arg[:5])) + (f",… ({len(arg)} ids)" if len(arg) > 5 else "")
        return f"{spec['kind']}:{shown}"
    return f"{spec['kind']}:{arg}"


def valid_order_filter(shop_id: int, as_of: datetime) -> ColumnElement[bool]:
    """SQL condition for the shop's valid orders as of an instant (README, "Valid order")."""
    ts = epoch_seconds(as_of)
    return and_(
        Order.shop_id == shop_id, Order.created_ts <= ts, Order.is_test.is_(False),
        Order.deleted_at.is_(None), or_(Order.cancelled_ts.is_(None), Order.cancelled_ts > ts),
    )


def _per_person(shop: Shop, as_of: datetime) -> Any:
    """Subquery: person_id, valid orders, first and last order time (epoch seconds)."""
    return (
        select(
            Order.person_id.label("person_id"),
            func.count().label("n"),
            func.min(Order.created_ts).label("first_ts"),
            func.max(Order.created_ts).label("last_ts"),
        )
        .where(valid_order_filter(shop.id, as_of))
        .group_by(Order.person_id)
        .subquery()
    )


def _select_all(session: Session, shop: Shop, arg: Any, as_of: datetime) -> Iterable[int]:
    p = _per_person(shop, as_of)
    return session.scalars(select(p.c.person_id))


def _select_lapsed(session: Session, shop: Shop, days: int, as_of: datetime) -> Iterable[int]:
    p = _per_person(shop, as_of)
    cutoff = epoch_seconds(as_of) - days * DAY
    return session.scalars(select(p.c.person_id).where(p.c.last_ts <= cutoff))


def _select_newly_lapsed(session: Session, shop: Shop, days: int,
                         as_of: datetime) -> Iterable[int]:
    p = _per_person(shop, as_of)
    cutoff = epoch_seconds(as_of) - days * DAY
    since = cutoff - NEWLY_LAPSED_WINDOW_DAYS * DAY
    return session.scalars(
        select(p.c.person_id).where(p.c.last_ts <= cutoff, p.c.last_ts > since)
    )


def _select_min_orders(session: Session, shop: Shop, n: int, as_of: datetime) -> Iterable[int]:
    p = _per_person(shop, as_of)
    return session.scalars(select(p.c.person_id).where(p.c.n >= n))


def expected_repurchase_days(session: Session, shop: Shop, as_of: datetime) -> float:
    """The shop's median days between consecutive orders (30 when it has no repeat orders)."""
    from stammkunde.core.metrics import build_report

    median = build_report(session, shop, as_of)["days_between_orders"]["median"]
    return float(median) if median else float(DEFAULT_REPURCHASE_DAYS)


def _select_second_order(session: Session, shop: Shop, days: int | None,
                         as_of: datetime) -> Iterable[int]:
    wait = days if days is not None else expected_repurchase_days(session, shop, as_of)
    p = _per_person(shop, as_of)
    end = epoch_seconds(as_of)
    return session.scalars(
        select(p.c.person_id).where(
            p.c.n == 1, p.c.first_ts <= end - wait * DAY, p.c.first_ts > end - 2 * wait * DAY,
        )
    )


def _parse_ids(arg: str | None) -> list[str]:
    if not arg:
        raise UserError("target kind 'customers' needs ids, e.g. customers:c1,c2 or "
                        "customers:@ids.txt (one id per line)")
    if arg.startswith("@"):
        path = Path(arg[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read customer list {str(path)!r}: {exc.strerror}") from None
        ids = [line.strip() for line in text.splitlines()]
    else:
        ids = [part.strip() for part in arg.split(",")]
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise UserError("target kind 'customers': the list of customer ids is empty")
    return ids


def _select_customers(session: Session, shop: Shop, ids: list[str],
                      as_of: datetime) -> Iterable[int]:
    found: dict[str, int] = {}
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Customer.platform_id, Customer.person_id).where(
                Customer.shop_id == shop.id, Customer.platform_id.in_(ids[i : i + CHUNK])
            )
        )
        found.update({pid: person for pid, person in rows})
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        raise UserError(f"shop {shop.name!r} has no customer(s) {shown}")
    return list(dict.fromkeys(found[i] for i in ids))


def add_order_kinds(kinds: TargetKinds) -> None:
    """Register the kinds that work from stored orders and explicit customer lists."""
    kinds.register("all", _select_all, description="every customer (≥ 1 valid order)")
    kinds.register(
        "lapsed", _select_lapsed, parse_arg=positive_int("lapsed", "a number of days"),
        usage="lapsed:DAYS", description="customers whose last valid order is older than DAYS",
    )
    kinds.register(
        "newly-lapsed", _select_newly_lapsed,
        parse_arg=positive_int("newly-lapsed", "a number of days"), usage="newly-lapsed:DAYS",
        description=(f"customers whose last valid order became older than DAYS in the last "
                     f"{NEWLY_LAPSED_WINDOW_DAYS} days"),
    )
    kinds.register(
        "min-orders", _select_min_orders,
        parse_arg=positive_int("min-orders", "a number of orders"), usage="min-orders:N",
        description="customers with at least N valid orders",
    )
    kinds.register(
        "second-order", _select_second_order,
        parse_arg=positive_int("second-order", "a number of days", optional=True),
        usage="second-order[:DAYS]",
        description=("one-order customers whose first order is between DAYS and 2×DAYS old "
                     "(default DAYS: the shop's median days between orders)"),
    )
    kinds.register(
        "customers", _select_customers, parse_arg=_parse_ids,
        usage="customers:ID,ID,… | customers:@FILE",
        description="an explicit, saved list of the shop's customer ids",
    )


def members_for(session: Session, shop: Shop, person_ids: Iterable[int]) -> list[TargetMember]:
    """Map persons to their reachable customer record in the shop, ordered by person id."""
    wanted = sorted(set(person_ids))
    best: dict[int, Any] = {}
    declined: set[int] = set()
    for i in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(Customer.person_id, Customer.id, Customer.platform_id, Customer.email,
                   Customer.is_guest, Customer.accepts_marketing, Customer.redacted_at)
            .where(Customer.shop_id == shop.id, Customer.person_id.in_(wanted[i : i + CHUNK]))
        )
        declined.update(session.scalars(select(MarketingOptOut.person_id).where(
            MarketingOptOut.shop_id == shop.id,
            MarketingOptOut.person_id.in_(wanted[i : i + CHUNK]))))
        for cust in rows:
            # declining marketing (or a redaction) on any record of the person leaves them out
            if cust.accepts_marketing is False or cust.redacted_at is not None:
                declined.add(cust.person_id)
            seen = best.get(cust.person_id)
            if seen is None or (seen.is_guest, -seen.id) > (cust.is_guest, -cust.id):
                best[cust.person_id] = cust
    return [
        TargetMember(person_id=pid, customer_platform_id=c.platform_id, email=c.email,
                     customer_id=c.id)
        for pid in wanted
        if (c := best.get(pid)) is not None and pid not in declined
    ]


def resolve_target(session: Session, shop: Shop, target_spec: dict[str, Any] | str,
                   as_of: datetime, kinds: TargetKinds | None = None) -> list[TargetMember]:
    """Return the members a target spec (stored dict or ``KIND[:ARG]``) selects as of an instant.

    ``kinds`` is the registry to resolve with (the plugin manager's, so plugin kinds work);
    without it only the built-in kinds are known.
    """
    kinds = kinds or default_target_kinds()
    if isinstance(target_spec, str):
        target_spec = parse_target(target_spec, kinds)
    kind = kinds.get(str(target_spec.get("kind")))
    as_of = as_of.astimezone(UTC)
    persons = kind.select(session, shop, target_spec.get("arg"), as_of)
    return members_for(session, shop, persons)

