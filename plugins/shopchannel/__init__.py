"""Built-in ``shop`` channel: the offer written onto the customer in the shop's platform.

Shopify: customer metafields in the namespace ``stammkunde`` (``offer_code``,
``offer_expires_at``, ``offer_text``) plus a tag; WooCommerce: customer meta with the same keys
(prefixed ``stammkunde_``); the simulated demo platform: its local customer fields. Shopify Flow,
Shopify Email and e-mail tools that sync customers can then use the offer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from stammkunde.core.errors import UserError
from stammkunde.plugins.adapter import Capability
from stammkunde.plugins.channels import Channel, DeliveryResult, OfferMessage, SendJob
from stammkunde.plugins.hookspecs import hookimpl

NAMESPACE = "stammkunde"


def offer_fields(m: OfferMessage) -> dict[str, str]:
    """Return the fields written for one member (no expiry field for an open-ended offer)."""
    fields = {"offer_code": m.code, "offer_text": m.offer_text}
    if m.expires_at is not None:
        fields["offer_expires_at"] = m.expires_at.isoformat().replace("+00:00", "Z")
    return fields


def offer_tag(job: SendJob) -> str:
    """Return the tag the channel puts on the members: the campaign's, else stammkunde-<id>."""
    return job.tag or f"stammkunde-{job.campaign_id}"


class ShopChannel(Channel):
    """The offer as customer fields (and a tag) in the shop's own platform."""

    name: ClassVar[str] = "shop"
    description: ClassVar[str] = "Customer fields and a tag in the shop (Shopify metafields, " \
                                 "WooCommerce customer meta)"
    batch_size: ClassVar[int] = 100
    resend_interrupted: ClassVar[bool] = True  # writing the same fields again changes nothing
    needs_consent: ClassVar[bool] = False  # the platform's own e-mail tools check consent

    def check(self, job: SendJob) -> None:
        """Refuse a platform that cannot take customer fields."""
        if Capability.CUSTOMER_FIELDS not in job.adapter.capabilities:
            raise UserError(f"platform {job.shop.platform!r} of shop {job.shop.name!r} cannot "
                            "take customer fields, so the shop channel cannot serve it (use the "
                            "email channel or export the codes); nothing was sent")

    def send(self, job: SendJob, batches: Iterator[Sequence[OfferMessage]]) \
            -> Iterator[DeliveryResult]:
        """Write each batch's fields, then tag the customers whose fields were written."""
        tag = offer_tag(job)
        can_tag = Capability.TAGS in job.adapter.capabilities
        for batch in batches:
            by_customer = {m.customer_id: m for m in batch}
            answer = job.adapter.set_customer_fields(
                job.shop, NAMESPACE, {cid: offer_fields(m) for cid, m in by_customer.items()})
            ok = [cid for cid in by_customer if (answer or {}).get(cid) == "ok"]
            tagged = job.adapter.tag_customers(job.shop, tag, ok) if can_tag and ok else {}
            for m in batch:
                outcome = (answer or {}).get(m.customer_id, "no answer from the platform")
                if outcome == "ok" and can_tag:
                    t = tagged.get(m.customer_id, "no answer from the platform")
                    outcome = "ok" if t == "ok" else f"tag {tag!r}: {t}"
                yield DeliveryResult(m.key, "sent" if outcome == "ok" else "failed",
                                     None if outcome == "ok" else outcome)


@hookimpl
def register_channels(register: Callable[[Any], None]) -> None:
    """Register the shop channel."""
    register(ShopChannel())
