"""Offers out: coupons through ``POST coupons/batch`` and segments as customer meta data.

Coupons (https://developer.woocommerce.com/docs/apis/rest-api/v3/coupons/): a per-customer code is
limited with ``email_restrictions`` (when the customer has an e-mail), ``usage_limit`` 1 and
``usage_limit_per_user``; a shared code (``DiscountOffer.shared_code``) is one coupon limited to
the e-mails of all targets. Every coupon is ``individual_use``; ``minimum_amount`` and
``date_expires_gmt`` follow the offer. WooCommerce coupons have no start date: a code works from
the moment it is pushed. Batch endpoints take at most 100 items per request (the
``woocommerce_rest_batch_items_limit`` filter; more is refused with 413
``woocommerce_rest_request_entity_too_large``), so coupons go out in chunks of ``batch_size``
(shop option, default 100; halved automatically if the store answers 413).

Idempotency: before creating, existing codes are looked up – one paged ``GET coupons?search=``
scan when the codes share a prefix of at least 3 characters (switching to ``GET coupons?code=``
per code when the prefix matches more other coupons than that would cost), ``GET coupons?code=``
each when there are only a few, otherwise none – and reported ``exists``, never overwritten.
WooCommerce refuses a duplicate code per item (``woocommerce_rest_coupon_code_already_exists``),
which is reported ``exists`` too, so a re-run after a crash never creates a code twice. Coupon
codes are case-insensitive in WooCommerce (it stores them lower-cased).

Segments (``tag_customers``): WooCommerce has no customer tags. A segment is stored as customer
meta data ``stammkunde_segment_<slug>`` = ``"yes"`` via ``customers/batch``; removal sets it to
``""`` because the REST API can add and change meta data but not delete it. Meta keys starting
with ``_`` would be hidden from the REST API, so the key has no underscore prefix. Newsletter and
marketing plugins that read user meta can filter on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from stammkunde.core.errors import UserError
from stammkunde.plugins.adapter import DiscountOffer, DiscountResult, DiscountTarget
from stammkunde.plugins.woocommerce.client import WooClient, WooError
from stammkunde.plugins.woocommerce.sync import PER_PAGE, iso

BATCH_MAX = 100
DUPLICATE = "woocommerce_rest_coupon_code_already_exists"
TOO_LARGE = 413
KINDS = {"percentage": "percent", "fixed_amount": "fixed_cart"}
SEARCH_SAFE = re.compile(r"^[^\s,+\"'\-][^\s,+\"']{2,}$")
FEW_CODES = 20


def common_prefix(codes: Iterable[str]) -> str:
    """Return the longest prefix all codes share."""
    ordered = sorted(codes)
    if not ordered:
        return ""
    first, last = ordered[0], ordered[-1]
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def coupon_payload(offer: DiscountOffer, code: str, emails: Sequence[str], *,
                   unique: bool) -> dict[str, Any]:
    """Return the coupon JSON for one code."""
    kind = KINDS.get(offer.kind)
    if kind is None:
        raise UserError(f"offer kind must be one of {', '.join(KINDS)}, not {offer.kind!r}")
    if offer.value <= 0 or (kind == "percent" and offer.value > 100):
        raise UserError(f"offer value {offer.value} is out of range for {offer.kind}")
    body: dict[str, Any] = {
        "code": code,
        "discount_type": kind,
        "amount": str(offer.value),
        "description": offer.title,
        "individual_use": True,
        "usage_limit_per_user": offer.usage_limit_per_customer,
        "email_restrictions": list(emails),
    }
    if unique:
        body["usage_limit"] = offer.usage_limit_per_customer
    if offer.ends_at is not None:
        body["date_expires_gmt"] = iso(offer.ends_at)
    if offer.minimum_order is not None:
        body["minimum_amount"] = str(offer.minimum_order)
    return body


class CouponPusher:
    """Pushes one offer to one store; ``lookups`` and ``creates`` count the calls made."""

    def __init__(self, client: WooClient, batch_size: int = BATCH_MAX) -> None:
        self.client = client
        self.batch_size = max(1, min(batch_size, BATCH_MAX))
        self.lookups = 0
        self.creates = 0

    def existing(self, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the coupons among ``codes`` that the store already has, by lower-cased code."""
        wanted = {c.lower() for c in codes}
        found: dict[str, dict[str, Any]] = {}
        prefix = common_prefix(wanted)
        fields = "id,code,email_restrictions"
        if SEARCH_SAFE.match(prefix):
            page_no = 1
            while True:
                self.lookups += 1
                page = self.client.page("coupons", {"search": prefix, "per_page": PER_PAGE,
                                                    "page": page_no, "orderby": "id",
                                                    "order": "asc", "_fields": fields})
                for c in page.items:
                    if str(c.get("code", "")).lower() in wanted:
                        found[str(c["code"]).lower()] = c
                if page_no >= page.total_pages or not page.items:
                    return found
                if page_no == 1 and page.total_pages - 1 > len(wanted - found.keys()):
                    # The prefix is shared by many other coupons: asking code by code is cheaper.
                    return found | self._by_code(sorted(wanted - found.keys()), fields)
                page_no += 1
        if len(wanted) <= FEW_CODES:
            return self._by_code(sorted(wanted), fields)
        return found

    def _by_code(self, codes: Sequence[str], fields: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for code in codes:
            self.lookups += 1
            items = self.client.json("GET", "coupons", {"code": code, "_fields": fields})
            for c in items or ():
                if str(c.get("code", "")).lower() == code:
                    found[code] = c
        return found

    def create(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Any]]:
        """Create coupons in chunks; yield (payload, created coupon or error dict) pairs."""
        i = 0
        while i < len(payloads):
            chunk = payloads[i:i + self.batch_size]
            try:
                self.creates += 1
                answer = self.client.json("POST", "coupons/batch", data={"create": chunk})
            except WooError as exc:
                if exc.status == TOO_LARGE and self.batch_size > 1:
                    self.batch_size //= 2
                    continue
                raise
            created = (answer or {}).get("create") or []
            if len(created) != len(chunk):
                raise WooError(f"coupons/batch answered {len(created)} items for {len(chunk)}")
            yield from zip(chunk, created, strict=True)
            i += len(chunk)


def push(client: WooClient, offer: DiscountOffer, targets: Sequence[DiscountTarget],
         batch_size: int = BATCH_MAX, pusher: CouponPusher | None = None,
         ) -> Iterator[DiscountResult]:
    """Create the offer's codes; one result per target, in the targets' order.

    Results stream out after each batch, so a consumer that stops (or a crash) loses nothing
    the store has not already confirmed.
    """
    pusher = pusher or CouponPusher(client, batch_size)
    if offer.shared_code:
        yield from _push_shared(pusher, offer, targets)
        return
    coupon_payload(offer, "check", [], unique=True)  # refuse a bad offer before any call
    codes = list(dict.fromkeys(t.code.strip() for t in targets if (t.code or "").strip()))
    existing = pusher.existing(codes) if codes else {}
    seen: dict[str, DiscountTarget] = {}
    pending: list[tuple[DiscountTarget, DiscountResult | dict[str, Any]]] = []
    waiting = 0
    for t in targets:
        key = (t.code or "").strip().lower()
        if not key:
            pending.append((t, DiscountResult(t.customer_id, t.code, "failed", "empty code")))
        elif key in seen:
            pending.append((t, DiscountResult(
                t.customer_id, t.code, "failed",
                f"code also given to customer {seen[key].customer_id}")))
        elif key in existing:
            seen[key] = t
            pending.append((t, DiscountResult(t.customer_id, t.code, "exists",
                                              platform_id=str(existing[key]["id"]))))
        else:
            seen[key] = t
            pending.append((t, coupon_payload(offer, t.code.strip(),
                                              [t.email] if t.email else [], unique=True)))
            waiting += 1
        if waiting >= pusher.batch_size:
            yield from _flush(pusher, pending)
            pending, waiting = [], 0
    yield from _flush(pusher, pending)


def _flush(pusher: CouponPusher, pending: list[tuple[DiscountTarget, Any]]
           ) -> Iterator[DiscountResult]:
    payloads = [p for _, p in pending if isinstance(p, dict)]
    answers = iter([answer for _, answer in pusher.create(payloads)])
    for target, item in pending:
        yield item if isinstance(item, DiscountResult) else _result(target, next(answers))


def _result(target: DiscountTarget, answer: Any) -> DiscountResult:
    error = answer.get("error") if isinstance(answer, dict) else None
    if error:
        if error.get("code") == DUPLICATE:
            return DiscountResult(target.customer_id, target.code, "exists")
        return DiscountResult(target.customer_id, target.code, "failed",
                              str(error.get("message") or error.get("code")))
    return DiscountResult(target.customer_id, target.code, "created",
                          platform_id=str(answer.get("id")))



def _push_shared(pusher: CouponPusher, offer: DiscountOffer,
                 targets: Sequence[DiscountTarget]) -> Iterator[DiscountResult]:
    code = str(offer.shared_code).strip()
    emails = list(dict.fromkeys(t.email.strip().lower() for t in targets if t.email))
    no_email = "no e-mail: a shared code is limited to the segment's e-mails"
    if not emails:
        for t in targets:
            yield DiscountResult(t.customer_id, code, "failed", no_email)
        return
    payload = coupon_payload(offer, code, emails, unique=False)
    found = pusher.existing([code]).get(code.lower())
    if found is not None:
        allowed = {str(e).lower() for e in found.get("email_restrictions") or ()}
        for t in targets:
            if not t.email:
                yield DiscountResult(t.customer_id, code, "failed", no_email)
            elif not allowed or t.email.strip().lower() in allowed:
                yield DiscountResult(t.customer_id, code, "exists", platform_id=str(found["id"]))
            else:
                yield DiscountResult(t.customer_id, code, "failed",
                                     "the shared code exists without this e-mail; not changed")
        return
    ((_, answer),) = list(pusher.create([payload]))
    for t in targets:
        if not t.email:
            yield DiscountResult(t.customer_id, code, "failed", no_email)
        else:
            yield _result(DiscountTarget(t.customer_id, t.email, code), answer)


def segment_key(tag: str) -> str:
    """Return the customer meta key that records membership of a segment."""
    slug = re.sub(r"[^a-z0-9]+", "_", tag.strip().lower()).strip("_")
    if not slug:
        raise UserError(f"segment name {tag!r} has no letters or digits")
    return f"stammkunde_segment_{slug}"


def tag(client: WooClient, name: str, customer_ids: Iterable[str], *, remove: bool = False,
        batch_size: int = BATCH_MAX) -> dict[str, str]:
    """Set (or clear) a segment's meta key on customers; customer id → "ok" or a reason."""
    key = segment_key(name)
    value = "" if remove else "yes"
    return write_meta(client, {c: {key: value} for c in dict.fromkeys(str(c) for c in
                                                                       customer_ids)},
                      batch_size=batch_size)


def write_meta(client: WooClient, values: Mapping[str, Mapping[str, str]], *,
               batch_size: int = BATCH_MAX) -> dict[str, str]:
    """Write customer meta (customer id → key → value) via ``customers/batch``; id → "ok"/reason."""
    out: dict[str, str] = {}
    numeric: list[str] = []
    for cid in values:
        if cid.isdigit() and int(cid) > 0:
            numeric.append(cid)
        else:
            out[cid] = "not a WooCommerce customer account (guest checkouts cannot be tagged)"
    size = max(1, min(batch_size, BATCH_MAX))
    for i in range(0, len(numeric), size):
        chunk = numeric[i:i + size]
        answer = client.json("POST", "customers/batch", data={"update": [
            {"id": int(cid), "meta_data": [{"key": k, "value": v}
                                           for k, v in values[cid].items()]}
            for cid in chunk]})
        updated = (answer or {}).get("update") or []
        for cid, item in zip(chunk, updated, strict=False):
            error = item.get("error") if isinstance(item, dict) else None
            out[cid] = str(error.get("message") or error.get("code")) if error else "ok"
        for cid in chunk[len(updated):]:
            out[cid] = "the store did not answer for this customer"
    return out
