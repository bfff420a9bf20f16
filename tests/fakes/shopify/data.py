"""The fake shop's data: orders and customers as GraphQL nodes, discounts, tags, bulk exports.

Nodes follow the documented shapes (https://shopify.dev/docs/api/admin-graphql/2026-10/objects/Order,
.../objects/Customer); money is a decimal string, times ISO 8601 with ``Z``.
"""

from __future__ import annotations

import bisect
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2023, 1, 1, tzinfo=UTC)


def iso(value: datetime) -> str:
    """Format an instant the way Shopify does ("2024-05-01T10:00:00Z")."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(cents: int, currency: str = "EUR") -> dict[str, Any]:
    """A ``MoneyBag`` with the shop money only."""
    return {"shopMoney": {"amount": f"{cents // 100}.{cents % 100:02d}", "currencyCode": currency}}


def _product(sku: str) -> int:
    return zlib.crc32(sku.encode()) % 10**6


@dataclass
class Keyed:
    """Nodes kept sorted by (updatedAt, legacy id): the order Shopify pages with UPDATED_AT."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _keys: list[tuple[str, int]] = field(default_factory=list)
    _dirty: bool = True

    def put(self, node: dict[str, Any]) -> None:
        """Insert or replace a node."""
        self.nodes[node["legacyResourceId"]] = node
        self._dirty = True

    def keys(self) -> list[tuple[str, int]]:
        """Return the sort keys of all nodes, ascending."""
        if self._dirty:
            self._keys = sorted((n["updatedAt"], int(n["legacyResourceId"]))
                                for n in self.nodes.values())
            self._dirty = False
        return self._keys

    def page(self, after: tuple[str, int] | None, since: str | None,
             first: int) -> tuple[list[dict[str, Any]], bool]:
        """Return up to ``first`` nodes after the key ``after``, updated after ``since``."""
        keys = self.keys()
        start = 0
        if since is not None:
            start = bisect.bisect_right(keys, (since, 1 << 62))
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after))
        chosen = keys[start:start + first]
        return [self.nodes[str(k[1])] for k in chosen], start + first < len(keys)

    def count(self) -> int:
        """Return how many nodes there are."""
        return len(self.nodes)


@dataclass
class FakeData:
    """Everything the fake shop holds; ``generate`` fills it deterministically."""

    orders: Keyed = field(default_factory=Keyed)
    customers: Keyed = field(default_factory=Keyed)
    discounts: dict[str, dict[str, Any]] = field(default_factory=dict)   # discount gid -> data
    codes: dict[str, str] = field(default_factory=dict)                  # code (folded) -> gid
    code_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_files: dict[str, bytes] = field(default_factory=dict)
    webhooks: dict[str, dict[str, str]] = field(default_factory=dict)    # id -> {topic, uri}
    next_id: int = 1

    def new_id(self) -> int:
        """Return a fresh numeric id."""
        self.next_id += 1
        return self.next_id

    def add_customer(self, legacy: int, email: str | None, created: datetime,
                     first: str = "Kim", last: str = "Muster", tags: tuple[str, ...] = (),
                     subscribed: bool = False) -> dict[str, Any]:
        """Add a customer node."""
        state = "SUBSCRIBED" if subscribed else "NOT_SUBSCRIBED"
        node = {"id": f"gid://shopify/Customer/{legacy}", "legacyResourceId": str(legacy),
                "firstName": first, "lastName": last,
                "createdAt": iso(created), "updatedAt": iso(created + timedelta(hours=1)),
                "tags": list(tags),
                "defaultEmailAddress": {"emailAddress": email, "marketingState": state}
                if email else None}
        self.customers.put(node)
        return node

    def add_order(self, legacy: int, created: datetime, lines: list[tuple[int, int, str]], *,
                  customer: int | None = None, email: str | None = None,
                  status: str = "PAID", cancelled: bool = False, test: bool = False,
                  refunds: tuple[int, ...] = (), codes: tuple[str, ...] = (),
                  source: str = "web", currency: str = "EUR") -> dict[str, Any]:
        """Add an order; ``lines`` are (quantity, unit price in cents, sku)."""
        total = sum(q * p for q, p, _ in lines)
        refund_nodes = [
            {"id": f"gid://shopify/Refund/{legacy * 10 + i}",
             "createdAt": iso(created + timedelta(days=3 + i)),
             "totalRefundedSet": money(cents, currency)}
            for i, cents in enumerate(refunds)]
        updated = created + timedelta(days=3 + len(refunds)) if refunds else created + \
            timedelta(minutes=5)
        node = {
            "id": f"gid://shopify/Order/{legacy}", "legacyResourceId": str(legacy),
            "createdAt": iso(created), "updatedAt": iso(updated),
            "cancelledAt": iso(created + timedelta(hours=2)) if cancelled else None,
            "test": test, "displayFinancialStatus": status, "currencyCode": currency,
            "email": email, "sourceName": source, "discountCodes": list(codes),
            "totalPriceSet": money(total, currency),
            "customer": {"id": f"gid://shopify/Customer/{customer}"} if customer else None,
            "refunds": refund_nodes,
            "lineItems": {"edges": [
                {"node": {"quantity": q, "sku": sku, "title": f"Product {sku}",
                          "product": {"id": f"gid://shopify/Product/{_product(sku)}"},
                          "originalUnitPriceSet": money(p, currency)}}
                for q, p, sku in lines]},
        }
        self.orders.put(node)
        return node

    def generate(self, orders: int, customers: int, seed: int = 7) -> None:
        """Fill the shop with a realistic mix: guests, refunds, cancellations, tests, codes."""
        rnd = random.Random(seed)
        span = 730 * 24 * 3600
        for c in range(1, customers + 1):
            created = START + timedelta(seconds=rnd.randrange(span))
            self.add_customer(1000 + c, f"customer{c}@example.com", created,
                              subscribed=rnd.random() < 0.4)
        for o in range(1, orders + 1):
            created = START + timedelta(seconds=rnd.randrange(span))
            lines = [(rnd.randint(1, 3), rnd.randrange(500, 8000), f"SKU-{rnd.randrange(200)}")
                     for _ in range(rnd.randint(1, 4))]
            total = sum(q * p for q, p, _ in lines)
            guest = customers == 0 or rnd.random() < 0.1
            roll = rnd.random()
            refunds: tuple[int, ...] = ()
            status = "PAID"
            if roll < 0.05:
                refunds, status = (total,), "REFUNDED"
            elif roll < 0.10:
                refunds, status = (total // 3,), "PARTIALLY_REFUNDED"
            elif roll < 0.12:
                status = "PENDING"
            self.add_order(
                500_000 + o, created, lines,
                customer=None if guest else 1000 + rnd.randint(1, customers),
                email=f"guest{o}@example.com" if guest else None, status=status,
                cancelled=rnd.random() < 0.03, test=rnd.random() < 0.01, refunds=refunds,
                codes=("WELCOME10",) if rnd.random() < 0.15 else (),
                source=rnd.choice(("web", "web", "web", "pos", "shopify_draft_order")))
        self.next_id = 10_000_000

    def bulk_file(self, resource: str, grouped: bool = True) -> bytes:
        """Build the JSONL a bulk export of ``resource`` produces.

        ``grouped`` (``groupObjects: true``): each parent's child lines follow it. Ungrouped
        (the default since 2026-01) gives no order guarantee; the fake then writes every child
        line before the parents, the worst case for a reader that expects grouping.
        """
        roots: list[str] = []
        children: list[str] = []
        out: list[str] = []
        keyed = self.orders if resource == "orders" else self.customers
        for key in list(keyed.keys()):
            node = dict(keyed.nodes[str(key[1])])
            lines = node.pop("lineItems", None)
            kids = [json.dumps(dict(edge["node"], __parentId=node["id"]), separators=(",", ":"))
                    for edge in (lines or {}).get("edges", [])]
            root = json.dumps(node, separators=(",", ":"))
            if grouped:
                out += [root, *kids]
            else:
                roots.append(root)
                children += kids
        out = out if grouped else children + roots
        return ("\n".join(out) + "\n").encode() if out else b""
