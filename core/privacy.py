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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
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
from stammkunde.core.models import (
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
from stammkunde.core.timeutil import now

log = logging.getLogger("stammkunde.privacy")

PRIVACY_RECORDS = (CustomerDataRequest, CustomerRedact, ShopRedact, AppUninstalled)
REDACTED_BODY = "payload removed by a customer redaction before it was processed"


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
    folder.mkdir(parents=True, exist_ok=True)
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


def _scrub_inbox(session: Session, shop: Shop, emails: set[str]) -> int:
    """Drop unprocessed inbox bodies of the shop that mention one of these e-mails."""
    if not emails:
        return 0
    needles = [e.encode() for e in emails]
    scrubbed = 0
    rows = session.scalars(
        select(InboxDelivery).where(InboxDelivery.shop_id == shop.id,
                                    InboxDelivery.body.is_not(None),
                                    InboxDelivery.status != InboxStatus.PROCESSED)
    )
    for row in rows:
        body = (row.body or b"").lower()
        if any(n in body for n in needles):
            row.body = None
            row.status = InboxStatus.PROCESSED
            row.error = REDACTED_BODY
            scrubbed += 1
    return scrubbed


def redact_customer(
    session: Session, shop: Shop, request: CustomerRedact,
    *, at: datetime | None = None, reference: str | None = None,
) -> PrivacyOutcome:
    """Remove a customer's personal data; orders and events stay, without identity.

    E-mail, names, tags and marketing consent are nulled; a guest's key (``guest:<e-mail>``)
    becomes ``redacted:<row id>``. The person loses its e-mail, or, if the same person is also a
    customer of another shop, this customer moves to a new anonymous person.
    """
    at = at or now()
    subject = subject_hash(shop.id, request.customer_id, request.email)
    customers = find_customers(session, shop, request.customer_id, request.email,
                               request.order_ids)
    emails = {e for e in [normalize_email(request.email)] if e}
    for c in customers:
        for value in (c.email, c.person.email if c.person else None):
            if (e := normalize_email(value)) is not None:
                emails.add(e)
        c.email = c.first_name = c.last_name = c.tags = None
        c.accepts_marketing = None
        c.redacted_at = at
        if c.platform_id.startswith("guest:"):
            c.platform_id = f"redacted:{c.id}"
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
    scrubbed = _scrub_inbox(session, shop, emails)
    outcome = (f"redacted {len(customers)} customer(s); {scrubbed} queued payload(s) dropped"
               if customers or scrubbed else "no data stored for this customer")
    audit(session, shop.id, "customer_redact", subject, outcome, at=at, reference=reference)
    return PrivacyOutcome("customer_redact", subject, outcome)


def redact_shop(
    session: Session, shop: Shop, *, at: datetime | None = None, reference: str | None = None,
    keep_inbox_id: int | None = None,
) -> PrivacyOutcome:
    """Delete all of a shop's data, the shop itself included; the audit row stays.

    ``keep_inbox_id`` is the delivery that carried the request: it is kept (without its body) so
    its outcome can be recorded.
    """
    at = at or now()
    shop_id = shop.id
    person_ids = set(session.scalars(select(Customer.person_id).where(Customer.shop_id == shop_id)))
    order_ids = select(Order.id).where(Order.shop_id == shop_id).scalar_subquery()
    counts: dict[str, int] = {}
    for table in (Refund, OrderDiscount, OrderLine):
        session.execute(delete(table).where(table.order_id.in_(order_ids)))
    for name, table in (("orders", Order), ("events", Event), ("customers", Customer)):
        result = session.execute(delete(table).where(table.shop_id == shop_id))
        counts[name] = result.rowcount or 0  # type: ignore[attr-defined]
    for table in (SyncState, PendingRefund, OrderTombstone):  # type: ignore[assignment]
        session.execute(delete(table).where(table.shop_id == shop_id))
    inbox = delete(InboxDelivery).where(InboxDelivery.shop_id == shop_id)
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
            outcomes.append(redact_customer(session, shop, rec, at=at, reference=reference))
        elif isinstance(rec, AppUninstalled):
            outcomes.append(uninstall_shop(session, shop, at=at, reference=reference))
        elif isinstance(rec, ShopRedact):
            outcomes.append(redact_shop(session, shop, at=at, reference=reference,
                                        keep_inbox_id=keep_inbox_id))
            break  # nothing of the shop is left to act on
    return outcomes
