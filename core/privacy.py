"""Privacy and lifecycle requests: data export, customer redaction, shop redaction, uninstall.

Every request leaves one ``audit_log`` row (shop id, action, subject hash, time, outcome) and one
log line, neither with personal data. The subject hash is SHA-256 over the shop id, the platform
customer id and the normalised e-mail, so an auditor who knows the request can confirm it was
handled, while the log itself names nobody.

Deadlines (who must do what by when):

- Shopify (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance):
  ``customers/data_request`` — give the merchant the stored data within 30 days of the request;
  ``customers/redact`` — erase within 30 days of receiving it (Shopify sends it 10 days after the
  customer asks, or holds it back until six months after the customer's last order);
  ``shop/redact`` — sent 48 hours after the merchant uninstalls the app; erase the shop's data.
- WooCommerce sends no privacy webhooks: the merchant runs WordPress's "Export/Erase Personal
  Data" tools and the same functions are reachable from the CLI; the GDPR deadline applies
  (Art. 12(3): one month, extendable by two).

All of this happens in the caller's transaction: the audit row commits with the change it records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from stammkunde.core.access import revoke_shop_sessions
from stammkunde.core.identity import normalize_email
from stammkunde.core.inbox_models import (
    AuditLog,
    InboxDelivery,
    InboxStatus,
    OrderTombstone,
    PendingRefund,
)
from stammkunde.core.job_models import CachedResult, CustomerRollup, Job
from stammkunde.core.models import (
    Assignment,
    Campaign,
    ContactLog,
    Customer,
    Event,
    Order,
    OrderDiscount,
    OrderLine,
    Person,
    Refund,
    Shop,
    SyncState,
)
from stammkunde.core.money import money_str
from stammkunde.core.records import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerRedact,
    Record,
    ShopRedact,
)
from stammkunde.core.shops import normalize_domain
from stammkunde.core.timeutil import now

log = logging.getLogger("stammkunde.privacy")

PRIVACY_RECORDS = (CustomerDataRequest, CustomerRedact, ShopRedact, AppUninstalled)
REDACTED_BODY = "payload removed by a customer redaction before it was processed"
#: Data-request exports are deleted this long after they were written (the merchant has a copy).
EXPORT_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class PrivacyOutcome:
    """What one request did: the audited action and outcome, and an export file if any."""

    action: str
    subject_hash: str | None
    outcome: str
    path: Path | None = None


def subject_hash(shop_id: int, customer_id: str | None, email: str | None) -> str:
    """Return the pseudonymous hash that identifies a request's subject in the audit log."""
    key = f"{shop_id}\0{customer_id or ''}\0{normalize_email(email) or ''}"
    return hashlib.sha256(key.encode()).hexdigest()


def audit(
    session: Session, shop_id: int | None, action: str, subject: str | None, outcome: str,
    *, at: datetime | None = None, reference: str | None = None,
) -> None:
    """Write an audit row and a log line (neither holds personal data)."""
    session.add(AuditLog(shop_id=shop_id, action=action, subject_hash=subject, at=at or now(),
                         outcome=outcome[:255], reference=reference))
    log.info("privacy request", extra={"action": action, "shop_id": shop_id,
                                       "subject_hash": subject, "outcome": outcome,
                                       "reference": reference})


def find_customers(
    session: Session, shop: Shop, customer_id: str | None, email: str | None,
    order_ids: Sequence[str] = (),
) -> list[Customer]:
    """Return the shop's customers a request means: by platform id, e-mail, or their orders."""
    found: dict[int, Customer] = {}
    if customer_id:
        for c in session.scalars(select(Customer).where(Customer.shop_id == shop.id,
                                                        Customer.platform_id == customer_id)):
            found[c.id] = c
    wanted = normalize_email(email)
    if wanted:
        rows = session.scalars(
            select(Customer).join(Person, Customer.person_id == Person.id)
            .where(Customer.shop_id == shop.id, Person.email == wanted)
        )
        for c in rows:
            found[c.id] = c
        for c in session.scalars(select(Customer).where(Customer.shop_id == shop.id,
                                                        Customer.email.is_not(None))):
            if normalize_email(c.email) == wanted:
                found[c.id] = c
    if order_ids:
        rows = session.scalars(
            select(Customer).join(Order, Order.customer_id == Customer.id)
            .where(Order.shop_id == shop.id, Order.platform_id.in_(list(order_ids)))
        )
        for c in rows:
            found[c.id] = c
    return sorted(found.values(), key=lambda c: c.id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ts(value: int | None) -> str | None:
    from datetime import UTC

    return datetime.fromtimestamp(value, UTC).isoformat() if value is not None else None


def _order_export(order: Order) -> dict[str, Any]:
    return {
        "platform_id": order.platform_id,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "status": order.status,
        "cancelled_at": _ts(order.cancelled_ts),
        "deleted_at": _iso(order.deleted_at),
        "is_test": order.is_test,
        "currency": order.currency,
        "total": money_str(order.total),
        "channel": order.channel,
        "line_items": [
            {"quantity": li.quantity, "price": money_str(li.price), "sku": li.sku,
             "product_id": li.product_id, "title": li.title}
            for li in sorted(order.lines, key=lambda li: li.id)
        ],
        "refunds": [
            {"platform_id": r.platform_id, "amount": money_str(r.amount),
             "created_at": _ts(r.created_ts)}
            for r in sorted(order.refunds, key=lambda r: (r.created_ts, r.id))
        ],
        "discount_codes": [d.code for d in sorted(order.discounts, key=lambda d: d.id)],
    }


def customer_export(session: Session, shop: Shop, customers: Iterable[Customer]) -> list[dict]:  # type: ignore[type-arg]
    """Return everything stored about these customers, as JSON-ready dicts."""
    out = []
    for c in customers:
        orders = session.scalars(
            select(Order).where(Order.customer_id == c.id).order_by(Order.created_ts, Order.id)
        ).all()
        events = session.scalars(
            select(Event).where(Event.customer_id == c.id).order_by(Event.occurred_ts, Event.id)
        ).all()
        person = session.get(Person, c.person_id)
        out.append({
            "platform_id": c.platform_id,
            "is_guest": c.is_guest,
            "email": c.email,
            "person_email": person.email if person is not None else None,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "accepts_marketing": c.accepts_marketing,
            "tags": c.tags.split(",") if c.tags else [],
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
            "redacted_at": _iso(c.redacted_at),
            "orders": [_order_export(o) for o in orders],
            "events": [
                {"platform_id": e.platform_id, "kind": e.kind,
                 "occurred_at": _iso(e.occurred_at), "points": e.points}
                for e in events
            ],
        })
    return out


def export_customer(
    session: Session, shop: Shop, request: CustomerDataRequest, exports_dir: Path,
    *, at: datetime | None = None, reference: str | None = None,
) -> PrivacyOutcome:
    """Write everything stored about a customer to a JSON file for the merchant; audit it."""
    at = at or now()
    subject = subject_hash(shop.id, request.customer_id, request.email)
    customers = find_customers(session, shop, request.customer_id, request.email)
    data = {
        "shop": shop.name,
        "platform": shop.platform,
        "request_id": request.request_id,
        "generated_at": at.isoformat(),
        "customers": customer_export(session, shop, customers),
    }
    folder = exports_dir / shop.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"data-request-{at:%Y%m%dT%H%M%SZ}-{subject[:12]}.json"
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    orders = sum(len(c["orders"]) for c in data["customers"])
    outcome = (f"exported {len(customers)} customer(s), {orders} order(s) to {path.name}"
               if customers else f"no data stored; empty export {path.name}")
    audit(session, shop.id, "customer_data_request", subject, outcome, at=at, reference=reference)
    return PrivacyOutcome("customer_data_request", subject, outcome, path)


def purge_exports(exports_dir: Path, retention: timedelta = EXPORT_RETENTION,
                  *, at: datetime | None = None) -> int:
    """Delete data-request exports older than ``retention``; return how many."""
    if not exports_dir.is_dir():
        return 0
    cutoff = (at or now()).timestamp() - retention.total_seconds()
    removed = 0
    for path in exports_dir.glob("*/data-request-*.json*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def _text(body: bytes) -> str:
    """Return a payload as searchable lower-case text, JSON escapes (``\\u00eb``) decoded."""
    raw = body.decode("utf-8", "replace")
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.lower()
    return (raw + "\n" + json.dumps(data, ensure_ascii=False)).lower()


def _mentions(text: str, needles: set[str]) -> bool:
    return any(n in text for n in needles)


def _scrub_inbox(session: Session, shop: Shop, needles: set[str],
                 keep_inbox_id: int | None = None) -> int:
    """Drop stored bodies of this shop's (or an unknown shop's) deliveries naming the customer."""
    if not needles:
        return 0
    scrubbed = 0
    rows = session.scalars(
        select(InboxDelivery).where(or_(InboxDelivery.shop_id == shop.id,
                                        InboxDelivery.shop_id.is_(None)),
                                    InboxDelivery.body.is_not(None),
                                    InboxDelivery.id != (keep_inbox_id or 0))
    )
    for row in rows:
        if _mentions(_text(row.body or b""), needles):
            row.body = None
            row.status = InboxStatus.PROCESSED
            row.error = REDACTED_BODY
            scrubbed += 1
    return scrubbed


def _scrub_json(value: Any, needles: set[str]) -> tuple[Any, bool]:
    """Return the value with every string naming the customer replaced by None."""
    if isinstance(value, str):
        return (None, True) if _mentions(value.lower(), needles) else (value, False)
    if isinstance(value, list):
        items = [_scrub_json(v, needles) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    if isinstance(value, dict):
        pairs = {k: _scrub_json(v, needles) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(c for _, c in pairs.values())
    return value, False


def _scrub_caches(session: Session, shop: Shop, needles: set[str]) -> None:
    """Remove the customer from the shop's cached reports (win-back list, top customers)."""
    for row in session.scalars(select(CachedResult).where(CachedResult.shop_id == shop.id)):
        data, changed = _scrub_json(row.data, needles)
        if changed:
            row.data = data


def _scrub_exports(exports_dir: Path | None, shop: Shop, needles: set[str]) -> int:
    """Delete the shop's data-request exports that name the customer."""
    folder = exports_dir / shop.name if exports_dir is not None else None
    if folder is None or not folder.is_dir() or not needles:
        return 0
    removed = 0
    for path in folder.glob("data-request-*.json*"):
        try:
            if _mentions(_text(path.read_bytes()), needles):
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def redact_customer(
    session: Session, shop: Shop, request: CustomerRedact,
    *, at: datetime | None = None, reference: str | None = None,
    exports_dir: Path | None = None, keep_inbox_id: int | None = None,
) -> PrivacyOutcome:
    """Remove a customer's personal data; orders and events stay, without identity.

    E-mail, names, tags and marketing consent are nulled; a guest's key (``guest:<e-mail>``)
    becomes ``redacted:<row id>``. The person loses its e-mail, or, if the same person is also a
    customer of another shop, this customer moves to a new anonymous person. The customer also
    leaves the roll-up and cached reports (dashboard, CSV, win-back list), campaign assignments,
    stored webhook bodies (the shop's and those of an unknown shop) and the data-request
    exports under ``exports_dir``.
    """
    at = at or now()
    subject = subject_hash(shop.id, request.customer_id, request.email)
    customers = find_customers(session, shop, request.customer_id, request.email,
                               request.order_ids)
    emails = {e for e in [normalize_email(request.email)] if e}
    names: set[str] = set()
    for c in customers:
        for value in (c.email, c.person.email if c.person else None):
            if (e := normalize_email(value)) is not None:
                emails.add(e)
        full = " ".join(p for p in (c.first_name, c.last_name) if p).strip().lower()
        if c.first_name and c.last_name:
            names.add(full)
        old_person, old_key = c.person_id, c.platform_id
        c.email = c.first_name = c.last_name = c.tags = None
        c.accepts_marketing = None
        c.redacted_at = at
        if c.platform_id.startswith("guest:"):
            c.platform_id = f"redacted:{c.id}"
        session.execute(update(CustomerRollup).where(
            CustomerRollup.shop_id == shop.id, CustomerRollup.person_id == old_person,
        ).values(email=None, customer_id=c.platform_id))
        if old_key != c.platform_id:
            session.execute(update(Assignment).where(Assignment.customer_id == c.id)
                            .values(customer_platform_id=c.platform_id))
        shared = session.scalar(
            select(func.count(Customer.id)).where(Customer.person_id == c.person_id,
                                                  Customer.id != c.id)
        )
        if shared:
            anonymous = Person()
            session.add(anonymous)
            session.flush()
            c.person_id = anonymous.id
            for table in (Order, Event):
                session.execute(update(table).where(table.customer_id == c.id)
                                .values(person_id=anonymous.id))
        else:
            person = session.get(Person, c.person_id)
            if person is not None:
                person.email = None
    session.flush()
    needles = emails | names
    scrubbed = _scrub_inbox(session, shop, needles, keep_inbox_id)
    _scrub_caches(session, shop, needles)
    exports = _scrub_exports(exports_dir, shop, needles)
    outcome = (f"redacted {len(customers)} customer(s); {scrubbed} queued payload(s) and "
               f"{exports} export(s) dropped"
               if customers or scrubbed or exports else "no data stored for this customer")
    audit(session, shop.id, "customer_redact", subject, outcome, at=at, reference=reference)
    return PrivacyOutcome("customer_redact", subject, outcome)


def redact_shop(
    session: Session, shop: Shop, *, at: datetime | None = None, reference: str | None = None,
    keep_inbox_id: int | None = None, exports_dir: Path | None = None,
) -> PrivacyOutcome:
    """Delete all of a shop's data, the shop itself included; the audit row stays.

    Rows go in foreign-key order (sessions, jobs, caches, campaigns with their assignments and
    contacts, orders, customers, persons no other shop knows); so do deliveries that named the
    shop's domain before it was known, and its data-request exports under ``exports_dir``.
    ``keep_inbox_id`` is the delivery that carried the request: it is kept (without its body) so
    its outcome can be recorded.
    """
    at = at or now()
    shop_id = shop.id
    person_ids = set(session.scalars(select(Customer.person_id).where(Customer.shop_id == shop_id)))
    order_ids = select(Order.id).where(Order.shop_id == shop_id).scalar_subquery()
    campaign_ids = select(Campaign.id).where(Campaign.shop_id == shop_id).scalar_subquery()
    counts: dict[str, int] = {}
    revoke_shop_sessions(session, shop_id)
    for owned in (Job, CachedResult, CustomerRollup):  # type: ignore[assignment]
        session.execute(delete(owned).where(owned.shop_id == shop_id))
    session.execute(delete(ContactLog).where(or_(ContactLog.shop_id == shop_id,
                                                 ContactLog.campaign_id.in_(campaign_ids))))
    session.execute(delete(Assignment).where(Assignment.campaign_id.in_(campaign_ids)))
    session.execute(update(Campaign).where(Campaign.shop_id == shop_id).values(parent_id=None))
    session.execute(delete(Campaign).where(Campaign.shop_id == shop_id))
    for table in (Refund, OrderDiscount, OrderLine):
        session.execute(delete(table).where(table.order_id.in_(order_ids)))
    for name, table in (("orders", Order), ("events", Event), ("customers", Customer)):
        result = session.execute(delete(table).where(table.shop_id == shop_id))
        counts[name] = result.rowcount or 0  # type: ignore[attr-defined]
    for table in (SyncState, PendingRefund, OrderTombstone):  # type: ignore[assignment]
        session.execute(delete(table).where(table.shop_id == shop_id))
    mine = InboxDelivery.shop_id == shop_id
    domain = normalize_domain(shop.domain)
    if domain:  # deliveries that named the shop before it was known
        mine = or_(mine, InboxDelivery.shop_id.is_(None)
                   & (InboxDelivery.platform == shop.platform)
                   & (InboxDelivery.shop_domain == domain))
    inbox = delete(InboxDelivery).where(mine)
    if keep_inbox_id is not None:
        inbox = inbox.where(InboxDelivery.id != keep_inbox_id)
        session.execute(update(InboxDelivery).where(InboxDelivery.id == keep_inbox_id)
                        .values(shop_id=None, body=None))
    session.execute(inbox)
    if person_ids:
        still = set(session.scalars(select(Customer.person_id)
                                    .where(Customer.person_id.in_(person_ids))))
        orphans = sorted(person_ids - still)
        if orphans:
            session.execute(delete(Person).where(Person.id.in_(orphans)))
    session.execute(delete(Shop).where(Shop.id == shop_id))
    session.expunge(shop)
    if exports_dir is not None and (exports_dir / shop.name).is_dir():
        shutil.rmtree(exports_dir / shop.name, ignore_errors=True)
    outcome = (f"deleted shop with {counts['customers']} customer(s), {counts['orders']} "
               f"order(s), {counts['events']} event(s)")
    audit(session, shop_id, "shop_redact", None, outcome, at=at, reference=reference)
    return PrivacyOutcome("shop_redact", None, outcome)


def uninstall_shop(
    session: Session, shop: Shop, *, at: datetime | None = None, reference: str | None = None,
) -> PrivacyOutcome:
    """Forget a shop's credentials, mark it uninstalled and its jobs stopped; data stays."""
    at = at or now()
    had = shop.credentials is not None
    shop.credentials = None
    revoke_shop_sessions(session, shop.id)
    shop.uninstalled_at = at
    shop.settings = {**(shop.settings or {}), "jobs_stopped_at": at.isoformat()}
    outcome = "credentials deleted, jobs stopped" if had else "no credentials stored, jobs stopped"
    audit(session, shop.id, "app_uninstalled", None, outcome, at=at, reference=reference)
    return PrivacyOutcome("app_uninstalled", None, outcome)


def is_privacy_record(record: Record) -> bool:
    """Return True for the records this module handles (not the order store)."""
    return isinstance(record, PRIVACY_RECORDS)


def apply_privacy(
    session: Session, shop: Shop, records: Iterable[Record], exports_dir: Path,
    *, at: datetime | None = None, reference: str | None = None,
    keep_inbox_id: int | None = None,
) -> list[PrivacyOutcome]:
    """Carry out the privacy and lifecycle records of a delivery, in order."""
    outcomes = []
    for rec in records:
        if isinstance(rec, CustomerDataRequest):
            outcomes.append(export_customer(session, shop, rec, exports_dir, at=at,
                                            reference=reference))
        elif isinstance(rec, CustomerRedact):
            outcomes.append(redact_customer(session, shop, rec, at=at, reference=reference,
                                            exports_dir=exports_dir,
                                            keep_inbox_id=keep_inbox_id))
        elif isinstance(rec, AppUninstalled):
            outcomes.append(uninstall_shop(session, shop, at=at, reference=reference))
        elif isinstance(rec, ShopRedact):
            outcomes.append(redact_shop(session, shop, at=at, reference=reference,
                                        keep_inbox_id=keep_inbox_id, exports_dir=exports_dir))
            break  # nothing of the shop is left to act on
    return outcomes
