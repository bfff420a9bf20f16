"""Send a pushed campaign's offers through a channel: resumable, consent and opt-outs respected.

Every treatment member whose code is in the shop gets one delivery row per channel. A run takes
the pending rows batch by batch; before a batch goes to the channel its rows are marked
``sending`` in their own transaction, and each result the channel yields is stored at once. A
crash therefore leaves at most the messages in flight marked ``sending``: the next run sends them
again when the channel says that is harmless (``resend_interrupted``), and otherwise marks them
``unknown`` and never sends them twice. Customers who opted out, and (for channels that need it)
customers without marketing consent, are ``skipped`` when their turn comes, so an opt-out
recorded mid-campaign is respected by the rest of the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.campaigns import TREATMENT, get_campaign
from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.models import Assignment, Campaign, Customer
from stammkunde.core.offer_models import Delivery, DeliveryStatus, MarketingOptOut
from stammkunde.core.timeutil import now as utcnow
from stammkunde.plugins.channels import (
    Channel,
    DeliveryResult,
    OfferMessage,
    SendJob,
    language,
    offer_text,
)
from stammkunde.plugins.ingest import connection_for
from stammkunde.plugins.manager import PluginError, Plugins

Progress = Callable[[int, int | None], None]
PUSHED = ("created", "exists")


@dataclass
class SendResult:
    """What one send run did, and the totals of the campaign in the channel afterwards."""

    campaign: int
    channel: str
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    interrupted: int = 0  # found ``sending`` from a crashed run (re-sent or marked unknown)
    stopped: bool = False  # ``limit`` reached
    totals: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # skip/failure reason -> count

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return dict(self.__dict__)


def offer_ended(campaign: Campaign, now: datetime) -> bool:
    """Return True when the campaign's offer window is over."""
    return campaign.ends_at is not None and campaign.ends_at <= now


def check_sendable(campaign: Campaign, now: datetime) -> None:
    """Raise a one-line UserError unless the campaign's codes are in the shop and still valid."""
    cid = campaign.id
    if campaign.schedule:
        raise UserError(f"campaign {cid} is a scheduled play: send its instances instead")
    if campaign.assigned_at is None:
        raise UserError(f"campaign {cid} has not been pushed yet "
                        f"(`stammkunde campaign push {cid}`); nothing was sent")
    if campaign.shop.uninstalled_at is not None:
        raise UserError(f"shop {campaign.shop.name!r} is uninstalled; nothing was sent")
    if offer_ended(campaign, now):
        raise UserError(f"the offer of campaign {cid} ended at "
                        f"{campaign.ends_at.isoformat() if campaign.ends_at else ''}; "
                        "nothing was sent")


def pending_push(session: Session, cid: int) -> int:
    """Return how many of the campaign's codes still wait to be pushed."""
    return int(session.scalar(select(func.count()).where(
        Assignment.campaign_id == cid, Assignment.push_status == "pending")) or 0)


def send_campaign(
    factory: sessionmaker[Session], plugins: Plugins, campaign_id: int | str, channel_name: str,
    *, secret_key: str | None = None, home: Path | None = None, retry_failed: bool = False,
    limit: int | None = None, progress: Progress | None = None, now: datetime | None = None,
    env: dict[str, str] | None = None,
) -> SendResult:
    """Deliver each treatment member's offer through a channel; safe to re-run after a crash."""
    now = (now or utcnow()).replace(microsecond=0)
    if limit is not None and limit < 0:
        raise FieldError("{limit} must not be negative")
    channel: Channel = plugins.channel(channel_name)
    plugin_name = plugins.plugin_of_channel(channel_name)
    with factory() as session, session.begin():
        campaign = get_campaign(session, campaign_id)
        cid = campaign.id
        check_sendable(campaign, now)
        if pending_push(session, cid):
            raise UserError(f"campaign {cid} is not fully pushed: run `stammkunde campaign push "
                            f"{cid}` first; nothing was sent")
        shop = campaign.shop
        job = SendJob(
            campaign_id=cid, campaign_name=campaign.name, shop=connection_for(shop, secret_key),
            shop_id=shop.id, shop_locale=shop.locale or "en",
            adapter=plugins.platform(shop.platform), home=home or Path("."),
            secret_key=secret_key, tag=campaign.tag,
            env=dict(os.environ if env is None else env))
        try:
            channel.check(job)
        except UserError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin_name!r} failed in check: {exc}") from exc
        result = SendResult(campaign=cid, channel=channel.name)
        _ensure_rows(session, cid, channel.name, now)
        result.interrupted = _recover(session, cid, channel, retry_failed)
        offer = _offer(campaign)
    runner = _Runner(factory, channel, cid, offer, result, now, limit, progress)
    results = plugins.iterate(plugin_name, "send", channel.send(job, runner.batches()))
    try:
        for item in results:
            runner.store(item)
    except UserError:
        raise
    except Exception as exc:  # pragma: no cover - iterate() already wraps plugin crashes
        raise PluginError(f"plugin {plugin_name!r} failed in send: {exc}") from exc
    finally:
        runner.flush()
    result.totals = delivery_counts(factory, cid, channel.name)
    return result


def _ensure_rows(session: Session, cid: int, channel: str, now: datetime) -> None:
    """Give every treatment member with a code in the shop a delivery row in this channel."""
    have = exists().where(Delivery.assignment_id == Assignment.id, Delivery.channel == channel)
    missing = list(session.scalars(
        select(Assignment.id).where(Assignment.campaign_id == cid, Assignment.arm == TREATMENT,
                                    Assignment.push_status.in_(PUSHED), ~have)
        .order_by(Assignment.id)))
    if missing:
        session.execute(insert(Delivery.__table__), [
            {"campaign_id": cid, "assignment_id": a, "channel": channel,
             "status": DeliveryStatus.PENDING, "attempts": 0, "created_at": now}
            for a in missing])


def _recover(session: Session, cid: int, channel: Channel, retry_failed: bool) -> int:
    """Settle rows a crashed run left ``sending``; queue failed rows again when asked."""
    where = (Delivery.campaign_id == cid, Delivery.channel == channel.name)
    interrupted = int(session.scalar(select(func.count()).where(
        *where, Delivery.status == DeliveryStatus.SENDING)) or 0)
    if interrupted:
        if channel.resend_interrupted:
            values: dict[str, Any] = {"status": DeliveryStatus.PENDING}
        else:
            values = {"status": DeliveryStatus.UNKNOWN,
                      "reason": "interrupted while sending: it may have arrived, so it is not "
                                "sent again"}
        session.execute(update(Delivery).where(*where, Delivery.status == DeliveryStatus.SENDING)
                        .values(**values))
    if retry_failed:
        session.execute(update(Delivery).where(*where, Delivery.status == DeliveryStatus.FAILED)
                        .values(status=DeliveryStatus.PENDING, reason=None))
    return interrupted


@dataclass(frozen=True)
class _Offer:
    kind: str
    value: Any
    minimum: Any
    currency: str
    expires_at: datetime | None
    shop_locale: str | None
    shop_id: int


def _offer(campaign: Campaign) -> _Offer:
    return _Offer(campaign.offer_kind, campaign.offer_value, campaign.minimum_order,
                  campaign.shop.currency, campaign.ends_at, campaign.shop.locale,
                  campaign.shop_id)


class _Runner:
    """Hands out batches (claiming them) and stores the channel's results."""

    def __init__(self, factory: sessionmaker[Session], channel: Channel, cid: int, offer: _Offer,
                 result: SendResult, now: datetime, limit: int | None,
                 progress: Progress | None) -> None:
        self.factory = factory
        self.channel = channel
        self.cid = cid
        self.offer = offer
        self.result = result
        self.now = now
        self.limit = limit
        self.progress = progress or (lambda done, total=None: None)
        self.handed = 0
        self.outstanding: set[int] = set()
        self.buffer: list[DeliveryResult] = []
        counts = delivery_counts(factory, cid, channel.name)
        self.total = sum(counts.values())
        self.done = self.total - counts.get(DeliveryStatus.PENDING, 0)

    def batches(self) -> Iterator[Sequence[OfferMessage]]:
        """Yield pending messages batch by batch, each claimed before it is handed out."""
        after = 0
        while True:
            self.flush()
            size = self.channel.batch_size
            if self.limit is not None:
                size = min(size, self.limit - self.handed)
                if size <= 0:
                    self.result.stopped = self._pending_left()
                    return
            messages, after = self._claim(after, size)
            if messages is None:
                return
            if messages:
                self.handed += len(messages)
                self.outstanding.update(m.key for m in messages)
                yield messages

    def _pending_left(self) -> bool:
        with self.factory() as session:
            return bool(session.scalar(select(func.count()).where(
                Delivery.campaign_id == self.cid, Delivery.channel == self.channel.name,
                Delivery.status == DeliveryStatus.PENDING)))

    def _claim(self, after: int, size: int) -> tuple[list[OfferMessage] | None, int]:
        """Mark the next pending rows ``sending`` (or ``skipped``); None when none are left."""
        with self.factory() as session, session.begin():
            rows = list(session.execute(
                select(Delivery.id, Assignment.person_id, Assignment.code,
                       Customer.platform_id, Customer.email, Customer.first_name,
                       Customer.locale, Customer.accepts_marketing)
                .join(Assignment, Assignment.id == Delivery.assignment_id)
                .join(Customer, Customer.id == Assignment.customer_id)
                .where(Delivery.campaign_id == self.cid, Delivery.channel == self.channel.name,
                       Delivery.status == DeliveryStatus.PENDING, Delivery.id > after)
                .order_by(Delivery.id).limit(size)))
            if not rows:
                return None, after
            opted_out = set(session.scalars(select(MarketingOptOut.person_id).where(
                MarketingOptOut.shop_id == self.offer.shop_id,
                MarketingOptOut.person_id.in_([r.person_id for r in rows]))))
            messages = []
            changes = []
            for r in rows:
                reason = self._skip_reason(r, opted_out)
                if reason is not None:
                    changes.append({"id": r.id, "status": DeliveryStatus.SKIPPED,
                                    "reason": reason, "attempted_at": self.now})
                    self.result.skipped += 1
                    self.result.reasons[reason] = self.result.reasons.get(reason, 0) + 1
                    continue
                changes.append({"id": r.id, "status": DeliveryStatus.SENDING, "reason": None,
                                "attempted_at": utcnow()})
                lang = language(r.locale, self.offer.shop_locale)
                messages.append(OfferMessage(
                    key=r.id, campaign_id=self.cid, person_id=r.person_id,
                    customer_id=r.platform_id, email=r.email, first_name=r.first_name,
                    locale=lang, code=r.code,
                    offer_text=offer_text(lang, self.offer.kind, self.offer.value,
                                          self.offer.currency, self.offer.minimum),
                    expires_at=self.offer.expires_at))
            session.execute(update(Delivery), changes)
            session.execute(update(Delivery).where(Delivery.id.in_([m.key for m in messages]))
                            .values(attempts=Delivery.attempts + 1))
        self.done += len(changes) - len(messages)
        self.progress(self.done, self.total)
        return messages, rows[-1].id

    def _skip_reason(self, row: Any, opted_out: set[int]) -> str | None:
        if row.person_id in opted_out:
            return "opted out"
        if self.channel.needs_consent and row.accepts_marketing is not True:
            return "no marketing consent"
        if self.channel.needs_email and not row.email:
            return "no e-mail address"
        return None

    def store(self, item: DeliveryResult) -> None:
        """Take one result from the channel (stored at once when re-sending is not harmless)."""
        if item.key not in self.outstanding:
            raise PluginError(f"channel {self.channel.name!r} returned a result for a message "
                              "it was not given")
        self.outstanding.discard(item.key)
        self.buffer.append(item)
        if not self.channel.resend_interrupted:
            self.flush()

    def flush(self) -> None:
        """Store the buffered results in one transaction."""
        if not self.buffer:
            return
        changes = []
        for item in self.buffer:
            ok = item.status == DeliveryStatus.SENT
            reason = None if ok else (item.reason or "the channel gave no reason")
            changes.append({"id": item.key,
                            "status": DeliveryStatus.SENT if ok else DeliveryStatus.FAILED,
                            "reason": reason, "sent_at": self.now if ok else None})
            if ok:
                self.result.sent += 1
            else:
                self.result.failed += 1
                key = reason or ""
                self.result.reasons[key] = self.result.reasons.get(key, 0) + 1
        with self.factory() as session, session.begin():
            session.execute(update(Delivery), changes)
        self.done += len(self.buffer)
        self.buffer = []
        self.progress(self.done, self.total)


def delivery_counts(factory: sessionmaker[Session], cid: int, channel: str) -> dict[str, int]:
    """Return how many of the campaign's deliveries in a channel are in each status."""
    with factory() as session:
        return {status: int(n) for status, n in session.execute(
            select(Delivery.status, func.count()).where(
                Delivery.campaign_id == cid, Delivery.channel == channel)
            .group_by(Delivery.status))}


def campaign_deliveries(session: Session, cid: int) -> dict[str, dict[str, int]]:
    """Return channel -> status -> count for every channel the campaign was sent through."""
    out: dict[str, dict[str, int]] = {}
    for channel, status, n in session.execute(
            select(Delivery.channel, Delivery.status, func.count())
            .where(Delivery.campaign_id == cid).group_by(Delivery.channel, Delivery.status)):
        out.setdefault(channel, {})[status] = int(n)
    return out


EXPORT_COLUMNS = ("email", "first_name", "locale", "code", "offer", "expires_at")


@dataclass
class CodeExport:
    """The rows of ``campaign codes`` and how many members were left out, by reason."""

    rows: list[dict[str, str]]
    left_out: dict[str, int]


def campaign_codes(session: Session, campaign_id: int | str, *,
                   all_members: bool = False) -> CodeExport:
    """Return one row per treatment member whose code is in the shop, for an e-mail tool.

    By default only members an e-mail may go to are listed: who accepted marketing, did not opt
    out and has an address; ``all_members`` lists everyone with a code (e.g. for letters).
    """
    campaign = get_campaign(session, campaign_id)
    check_sendable(campaign, utcnow())
    if pending_push(session, campaign.id):
        raise UserError(f"campaign {campaign.id} is not fully pushed: run `stammkunde campaign "
                        f"push {campaign.id}` first")
    offer = _offer(campaign)
    opted_out = set(session.scalars(select(MarketingOptOut.person_id).where(
        MarketingOptOut.shop_id == campaign.shop_id)))
    rows: list[dict[str, str]] = []
    left_out: dict[str, int] = {}
    expires = "" if campaign.ends_at is None else \
        campaign.ends_at.isoformat().replace("+00:00", "Z")
    for person, code, email, first, locale, consent in session.execute(
            select(Assignment.person_id, Assignment.code, Customer.email, Customer.first_name,
                   Customer.locale, Customer.accepts_marketing)
            .join(Customer, Customer.id == Assignment.customer_id)
            .where(Assignment.campaign_id == campaign.id, Assignment.arm == TREATMENT,
                   Assignment.push_status.in_(PUSHED))
            .order_by(Assignment.id)):
        reason = ("opted out" if person in opted_out else
                  "no marketing consent" if consent is not True else
                  "no e-mail address" if not email else None)
        if reason == "opted out" or (reason is not None and not all_members):
            left_out[reason] = left_out.get(reason, 0) + 1
            continue
        lang = language(locale, offer.shop_locale)
        rows.append({"email": email or "", "first_name": first or "", "locale": lang,
                     "code": code or "",
                     "offer": offer_text(lang, offer.kind, offer.value, offer.currency,
                                         offer.minimum),
                     "expires_at": expires})
    return CodeExport(rows=rows, left_out=left_out)

