"""Codes out: discount codes only the targeted customers can use, once each; customer tags.

Limits that shape the calls (https://shopify.dev/docs/api/admin-graphql/2026-10,
https://shopify.dev/docs/api/usage/limits):
``discountCodeBasicCreate`` creates one discount with one code; ``discountRedeemCodeBulkAdd``
adds at most 250 codes to an existing discount and runs asynchronously (polled through
``discountRedeemCodeBulkCreation``). So a group of customers gets one discount whose ``context``
lists exactly those customers, ``appliesOncePerCustomer`` and a ``usageLimit`` of one use per
customer; its first code comes with the create call and the rest in bulk adds of 250.
Within a group any member could redeem another member's code (still once per person);
``per_customer=True`` in the shop options gives every customer a discount of their own instead
(one create call per customer). Existing codes are looked up first (``codeDiscountNodeByCode``,
many per query through aliases), so a re-run reports them as ``exists`` and creates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from stammkunde.plugins.adapter import DiscountOffer, DiscountResult, DiscountTarget
from stammkunde.plugins.shopify import queries as q
from stammkunde.plugins.shopify.client import GraphQLClient
from stammkunde.plugins.shopify.mapping import gid

BULK_ADD_MAX = 250   # codes per discountRedeemCodeBulkAdd call
LOOKUP_MAX = 250     # codes per aliased lookup query (1 point each, within the 1,000 cap)
TAGS_MAX = 50        # customers per aliased tagsAdd/tagsRemove mutation
# Input arguments that accept an array take at most 250 items
# (https://shopify.dev/docs/api/usage/limits#input-limits): ``context.customers.add`` too.
MAX_GROUP = 250
DEFAULT_GROUP = MAX_GROUP
POLL_COST = 3 + 2 * BULK_ADD_MAX  # codes(first: 250) with each code's errors
GUEST_REASON = ("guest checkout: a Shopify discount can be limited only to customer accounts, "
                "so a guest gets no code of their own")


def is_guest(customer_id: str) -> bool:
    """True for a guest checkout (stored as ``guest:<e-mail>``), which has no Shopify customer."""
    return not (customer_id.isdigit() or customer_id.startswith("gid://shopify/Customer/"))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def existing_codes(client: GraphQLClient, codes: Sequence[str]) -> dict[str, str]:
    """Return code -> discount id for the codes that already exist in the shop."""
    found: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(codes)), LOOKUP_MAX):
        data = client.execute(q.codes_lookup(len(chunk)),
                              {f"k{i}": c for i, c in enumerate(chunk)},
                              operation="CodesLookup", expected_cost=2 * len(chunk))
        for i, code in enumerate(chunk):
            node = data.get(f"c{i}")
            if node:
                found[code] = node["id"]
    return found


def discount_input(offer: DiscountOffer, code: str, customer_ids: Iterable[str] | None,
                   uses: int) -> dict[str, Any]:
    """The ``DiscountCodeBasicInput`` for an offer limited to these customers (None: all)."""
    if offer.kind == "percentage":
        if not Decimal(0) < offer.value <= Decimal(100):
            raise ValueError(f"a percentage must be in (0, 100], not {offer.value}")
        # Shopify takes a fraction between 0 and 1 (a GraphQL Float; this is not money)
        value: dict[str, Any] = {"percentage": float(offer.value / 100)}
    elif offer.kind == "fixed_amount":
        value = {"discountAmount": {"amount": str(offer.value), "appliesOnEachItem": False}}
    else:
        raise ValueError(f"unknown offer kind {offer.kind!r} (percentage or fixed_amount)")
    body: dict[str, Any] = {
        "title": offer.title,
        "code": code,
        "startsAt": offer.starts_at.isoformat(),
        "endsAt": offer.ends_at.isoformat() if offer.ends_at else None,
        "context": ({"all": "ALL"} if customer_ids is None else
                    {"customers": {"add": [gid("Customer", c) for c in customer_ids]}}),
        "customerGets": {"value": value, "items": {"all": True}},
        "appliesOncePerCustomer": offer.usage_limit_per_customer == 1,
        "usageLimit": uses,
    }
    if offer.minimum_order is not None:
        body["minimumRequirement"] = {
            "subtotal": {"greaterThanOrEqualToSubtotal": str(offer.minimum_order)}}
    return body


def _create(client: GraphQLClient, offer: DiscountOffer, code: str,
            customers: Sequence[str] | None, uses: int) -> tuple[str | None, str | None]:
    data = client.execute(q.DISCOUNT_CREATE,
                          {"input": discount_input(offer, code, customers, uses)},
                          operation="DiscountCreate", expected_cost=10)
    payload = data["discountCodeBasicCreate"]
    if payload.get("userErrors"):
        return None, "; ".join(e["message"] for e in payload["userErrors"])
    return payload["codeDiscountNode"]["id"], None


def _bulk_add(client: GraphQLClient, discount_id: str, codes: Sequence[str],
              poll_interval: float) -> dict[str, str | None]:
    """Add codes to a discount; return code -> None (created) or the failure reason."""
    data = client.execute(q.CODES_BULK_ADD,
                          {"discountId": discount_id, "codes": [{"code": c} for c in codes]},
                          operation="CodesBulkAdd", expected_cost=10)
    payload = data["discountRedeemCodeBulkAdd"]
    if payload.get("userErrors"):
        reason = "; ".join(e["message"] for e in payload["userErrors"])
        return dict.fromkeys(codes, reason)
    job = payload["bulkCreation"]["id"]
    while True:
        status = client.execute(q.CODES_BULK_POLL, {"id": job}, operation="CodesBulkPoll",
                                expected_cost=POLL_COST)["discountRedeemCodeBulkCreation"]
        if status["done"]:
            break
        client.sleep(poll_interval)
    errors = {e["node"]["code"]: "; ".join(x["message"] for x in e["node"]["errors"])
              for e in status["codes"]["edges"] if e["node"]["errors"]}
    return {c: errors.get(c) for c in codes}


def push(client: GraphQLClient, offer: DiscountOffer, targets: Sequence[DiscountTarget], *,
         group_size: int = DEFAULT_GROUP, per_customer: bool = False,
         poll_interval: float = 1.0) -> Iterator[DiscountResult]:
    """Create the offer's codes for the targets; one result per target, in target order."""
    if offer.shared_code:
        yield from _push_shared(client, offer, offer.shared_code, targets)
        return
    found = existing_codes(client, [t.code for t in targets if not is_guest(t.customer_id)])
    results: dict[int, DiscountResult] = {}
    todo: list[tuple[int, DiscountTarget]] = []
    for i, t in enumerate(targets):
        if is_guest(t.customer_id):
            results[i] = DiscountResult(t.customer_id, t.code, "skipped", reason=GUEST_REASON)
        elif t.code in found:
            results[i] = DiscountResult(t.customer_id, t.code, "exists", platform_id=found[t.code])
        else:
            todo.append((i, t))
    size = 1 if per_customer else max(1, min(group_size, MAX_GROUP))
    for group in _chunks(todo, size):
        first_i, first = group[0]
        uses = len(group) * offer.usage_limit_per_customer
        discount, reason = _create(client, offer, first.code, [t.customer_id for _, t in group],
                                   uses)
        results[first_i] = _result(first, discount, reason)
        rest = group[1:]
        for chunk in _chunks(rest, BULK_ADD_MAX):
            if discount is None:
                outcome = dict.fromkeys((t.code for _, t in chunk), reason)
            else:
                outcome = _bulk_add(client, discount, [t.code for _, t in chunk], poll_interval)
            for i, t in chunk:
                results[i] = _result(t, discount, outcome[t.code])
    for i in range(len(targets)):
        yield results[i]


def _push_shared(client: GraphQLClient, offer: DiscountOffer, code: str,
                 targets: Sequence[DiscountTarget]) -> Iterator[DiscountResult]:
    """One code for all targets, limited to them (at most 250 accounts), once each.

    A shared code is one discount, and its customer list takes at most 250 accounts and no
    guests. When the targets hold guests or more than 250 accounts, the discount is open to all
    buyers instead, still once per customer and with a usage limit of one use per target.
    """
    found = existing_codes(client, [code]).get(code)
    if found:
        for t in targets:
            yield DiscountResult(t.customer_id, code, "exists", platform_id=found)
        return
    uses = len(targets) * offer.usage_limit_per_customer
    accounts = [t.customer_id for t in targets if not is_guest(t.customer_id)]
    limited = len(accounts) == len(targets) and len(accounts) <= MAX_GROUP
    discount, reason = _create(client, offer, code, accounts if limited else None, uses)
    for t in targets:
        shared = DiscountTarget(t.customer_id, t.email, code)
        yield _result(shared, discount, reason)


def _result(target: DiscountTarget, discount: str | None, reason: str | None) -> DiscountResult:
    if reason is not None or discount is None:
        return DiscountResult(target.customer_id, target.code, "failed", reason=reason)
    return DiscountResult(target.customer_id, target.code, "created", platform_id=discount)


def tag(client: GraphQLClient, tag_name: str, customer_ids: Iterable[str],
        remove: bool = False) -> dict[str, str]:
    """Add or remove a tag on customers; customer id -> "ok" or the reason it failed."""
    out: dict[str, str] = {}
    ids = list(dict.fromkeys(customer_ids))
    for chunk in _chunks(ids, TAGS_MAX):
        variables: dict[str, Any] = {f"id{i}": gid("Customer", c) for i, c in enumerate(chunk)}
        variables["tags"] = [tag_name]
        data = client.execute(q.tags_mutation(len(chunk), remove), variables,
                              operation="TagsRemove" if remove else "TagsAdd",
                              expected_cost=10 * len(chunk))
        for i, cid in enumerate(chunk):
            errors = (data.get(f"t{i}") or {}).get("userErrors") or []
            out[cid] = "; ".join(e["message"] for e in errors) if errors else "ok"
    return out
