"""Delivery channels: how a treatment member's offer (code, text, expiry) reaches them.

A channel is registered by a plugin (hook ``register_channels``) and called by
:func:`stammkunde.plugins.delivery.send_campaign`, which owns resumability, consent and
opt-outs: it hands the channel batches of :class:`OfferMessage` and stores each
:class:`DeliveryResult` the channel yields. The built-ins are ``email`` (SMTP) and ``shop``
(customer metafields / meta in the platform); a third party adds Klaviyo, Mailchimp or SMS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from stammkunde.plugins.adapter import PlatformAdapter, ShopConnection

LANGUAGES = ("de", "en")


@dataclass(frozen=True)
class OfferMessage:
    """One treatment member's offer, ready to deliver; ``key`` identifies it in the results."""

    key: int
    campaign_id: int
    person_id: int
    customer_id: str  # the platform's customer id
    email: str | None
    first_name: str | None
    locale: str  # "de" or "en": the customer's language, else the shop's
    code: str
    offer_text: str  # e.g. "15 % Rabatt" / "15% off", in ``locale``
    expires_at: datetime | None


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one message: ``sent``, or ``failed`` with a reason (no personal data)."""

    key: int
    status: str  # "sent" or "failed"
    reason: str | None = None


@dataclass(frozen=True)
class SendJob:
    """Everything a channel needs about the campaign being sent (one shop, one campaign)."""

    campaign_id: int
    campaign_name: str
    shop: ShopConnection
    shop_id: int
    shop_locale: str
    adapter: PlatformAdapter
    home: Path  # where stammkunde.toml lives
    secret_key: str | None
    tag: str | None
    env: Mapping[str, str] = field(default_factory=dict)


class Channel:
    """Base class of delivery channels; override ``send`` (and ``check``).

    Contract (checked by :class:`stammkunde.plugins.testing.ChannelContract`):
    - ``check(job)`` raises ``UserError`` (one line, nothing sent) when the channel cannot serve
      the campaign: missing configuration, or a platform it cannot write to;
    - ``send(job, batches)`` takes the batches in order, delivers each message and yields exactly
      one :class:`DeliveryResult` per message, before it takes the next batch;
    - ``batch_size``: messages per batch (e.g. one platform call); a message is marked as being
      sent when its batch is taken;
    - ``resend_interrupted``: True when delivering a message twice is harmless (writing a field),
      so messages interrupted by a crash are sent again; False (e-mail) leaves them ``unknown``;
    - ``needs_consent``: True when only customers who accepted marketing may receive it.
    Opted-out customers never reach any channel.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    batch_size: ClassVar[int] = 50
    resend_interrupted: ClassVar[bool] = True
    needs_consent: ClassVar[bool] = True
    needs_email: ClassVar[bool] = False

    def check(self, job: SendJob) -> None:
        """Raise UserError when the channel cannot deliver this campaign's offers."""

    def send(self, job: SendJob, batches: Iterator[Sequence[OfferMessage]]) \
            -> Iterator[DeliveryResult]:
        """Deliver each batch's messages; yield one result per message."""
        raise NotImplementedError


def validate_channel(channel: Any, plugin_name: str) -> None:
    """Raise PluginError naming the plugin unless ``channel`` is a well-formed Channel."""
    from stammkunde.plugins.manager import PluginError

    if not isinstance(channel, Channel):
        raise PluginError(f"plugin {plugin_name!r} (register_channels) registered {channel!r}, "
                          "which is not a Channel instance")
    if not channel.name or not channel.name.replace("-", "_").isidentifier():
        raise PluginError(f"plugin {plugin_name!r} (register_channels) registered a channel "
                          "without a valid name (set the class attribute `name`, e.g. 'sms')")
    if int(channel.batch_size) < 1:
        raise PluginError(f"plugin {plugin_name!r} (register_channels): channel "
                          f"{channel.name!r} has batch_size < 1")


def language(locale: str | None, shop_locale: str | None) -> str:
    """Return "de" or "en": the customer's language if we have texts for it, else the shop's."""
    for candidate in (locale, shop_locale):
        lang = (candidate or "").replace("-", "_").split("_")[0].lower()
        if lang in LANGUAGES:
            return lang
    return "en"


def offer_text(lang: str, kind: str, value: Decimal, currency: str,
               minimum: Decimal | None) -> str:
    """Return the offer in words, e.g. "15 % Rabatt ab 50,00 €" or "€5.00 off"."""
    loc = "de_DE" if lang == "de" else "en_GB"
    if kind == "percentage":
        amount = f"{format_decimal(value.normalize(), locale=loc)} %" if lang == "de" else \
            f"{format_decimal(value.normalize(), locale=loc)}%"
    else:
        amount = format_currency(value, currency, locale=loc)
    text = f"{amount} Rabatt" if lang == "de" else f"{amount} off"
    if minimum:
        floor = format_currency(minimum, currency, locale=loc)
        text += f" ab {floor} Bestellwert" if lang == "de" else f" on orders of {floor} or more"
    return text


def expiry_text(lang: str, expires_at: datetime | None, tz: str) -> str | None:
    """Return the last day of the offer in the shop's time zone, in words, or None."""
    if expires_at is None:
        return None
    # an offer ending at midnight ends with the day before
    day = (expires_at - timedelta(seconds=1)).astimezone(ZoneInfo(tz or "UTC")).date()
    return format_date(day, format="long", locale="de_DE" if lang == "de" else "en_GB")
