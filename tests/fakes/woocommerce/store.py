"""The data behind the fake WooCommerce: orders, refunds, customers, coupons, webhooks.

Shapes follow the REST API v3 reference (https://developer.woocommerce.com/docs/apis/rest-api/v3/):
orders with ``*_gmt`` dates without offset, money as decimal strings, ``refunds`` entries
``{"id", "reason", "total": "-5.00"}``, ``coupon_lines[].code``; coupons with lower-cased codes
(WooCommerce formats codes with ``wc_strtolower``). Posts (orders, refunds, coupons) share one id
sequence as in WordPress. Time is a settable clock, so nothing depends on the wall clock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

ISO = "%Y-%m-%dT%H:%M:%S"
STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed",
            "checkout-draft", "trash")


def stamp(value: datetime) -> str:
    """Format an aware datetime as a WooCommerce ``*_gmt`` string."""
    return value.astimezone(UTC).strftime(ISO)


def parse_stamp(text: str) -> str:
    """Normalise a request date ("2024-01-01T00:00:00Z", with offset or naive GMT) to ISO form."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return stamp(parsed)


def _address(first: str, last: str, email: str | None) -> dict[str, str]:
    return {"first_name": first, "last_name": last, "company": "", "address_1": "Hauptstr. 1",
            "address_2": "", "city": "Berlin", "state": "", "postcode": "10115",
            "country": "DE", "email": email or "", "phone": ""}


class FakeStore:
    """In-memory WooCommerce data with the list queries the REST API offers."""

    def __init__(self, start: datetime | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = start or datetime(2024, 1, 1, tzinfo=UTC)
        self.orders: dict[int, dict[str, Any]] = {}
        self.refunds: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.coupons: dict[int, dict[str, Any]] = {}
        self.coupon_codes: dict[str, int] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self._post_id = 100
        self._user_id = 0
        self.version = 0
        self._cache: dict[Any, list[int]] = {}

    # -- time and ids -------------------------------------------------------------------------
    def now(self) -> datetime:
        """Return the store's current time."""
        return self.clock

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward (``advance(minutes=5)``) and return the new time."""
        self.clock += timedelta(**delta)
        return self.clock

    def _next_post(self) -> int:
        self._post_id += 1
        return self._post_id

    def _changed(self) -> None:
        self.version += 1
        self._cache.clear()

    # -- customers ----------------------------------------------------------------------------
    def add_customer(self, email: str, first_name: str = "", last_name: str = "", *,
                     role: str = "customer", created: datetime | None = None) -> dict[str, Any]:
        """Register a customer account and return its JSON."""
        with self.lock:
            self._user_id += 1
            when = stamp(created or self.clock)
            customer = {
                "id": self._user_id, "date_created": when, "date_created_gmt": when,
                "date_modified": when, "date_modified_gmt": when, "email": email,
                "first_name": first_name, "last_name": last_name, "role": role,
                "username": email.split("@")[0], "billing": _address(first_name, last_name, email),
                "shipping": _address(first_name, last_name, None), "is_paying_customer": False,
                "avatar_url": "", "meta_data": [],
            }
            self.customers[customer["id"]] = customer
            self._changed()
            return customer

    # -- orders -------------------------------------------------------------------------------
    def add_order(self, *, customer_id: int = 0, email: str | None = None,
                  status: str = "completed", total: str = "10.00", currency: str = "EUR",
                  created: datetime | None = None, created_via: str = "checkout",
                  coupons: Iterable[str] = (), lines: Iterable[tuple[str, int, str]] = (),
                  first_name: str = "", last_name: str = "") -> dict[str, Any]:
        """Add an order; ``lines`` are (name, quantity, unit price) and default to one line."""
        with self.lock:
            oid = self._next_post()
            when = stamp(created or self.clock)
            if customer_id:
                account = self.customers[customer_id]
                email = account["email"] if email is None else email
                first_name = first_name or account["first_name"]
                last_name = last_name or account["last_name"]
            items = list(lines) or [("Kaffee 500 g", 1, total)]
            order = {
                "id": oid, "parent_id": 0, "number": str(oid), "order_key": f"wc_order_{oid}",
                "created_via": created_via, "version": "9.4.0", "status": status,
                "currency": currency, "date_created": when, "date_created_gmt": when,
                "date_modified": when, "date_modified_gmt": when, "discount_total": "0.00",
                "discount_tax": "0.00", "shipping_total": "0.00", "shipping_tax": "0.00",
                "cart_tax": "0.00", "total": total, "total_tax": "0.00",
                "prices_include_tax": True, "customer_id": customer_id,
                "customer_ip_address": "", "customer_user_agent": "", "customer_note": "",
                "billing": _address(first_name, last_name, email),
                "shipping": _address(first_name, last_name, None),
                "payment_method": "bacs", "payment_method_title": "Direct bank transfer",
                "transaction_id": "", "date_paid": None, "date_paid_gmt": None,
                "date_completed": None, "date_completed_gmt": None, "cart_hash": "",
                "meta_data": [],
                "line_items": [
                    {"id": oid * 10 + n, "name": name, "product_id": 1000 + n,
                     "variation_id": 0, "quantity": qty, "tax_class": "",
                     "subtotal": str(Decimal(price) * qty), "subtotal_tax": "0.00",
                     "total": str(Decimal(price) * qty), "total_tax": "0.00", "taxes": [],
                     "meta_data": [], "sku": f"SKU-{1000 + n}", "price": float(Decimal(price))}
                    for n, (name, qty, price) in enumerate(items)],
                "tax_lines": [], "shipping_lines": [], "fee_lines": [],
                "coupon_lines": [{"id": oid * 10 + 9, "code": c.lower(), "discount": "0.00",
                                  "discount_tax": "0.00", "meta_data": []} for c in coupons],
                "refunds": [],
            }
            self.orders[oid] = order
            self._changed()
            return order

    def modify_order(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change fields of an order; its ``date_modified`` becomes now."""
        with self.lock:
            order = self.orders[order_id]
            order.update(changes)
            order["date_modified"] = order["date_modified_gmt"] = stamp(self.clock)
            self._changed()
            return order

    def refund(self, order_id: int, amount: str, *, reason: str = "",
               when: datetime | None = None) -> dict[str, Any]:
        """Refund part or all of an order (a full refund sets the status to refunded)."""
        with self.lock:
            order = self.orders[order_id]
            rid = self._next_post()
            at = stamp(when or self.clock)
            refund = {"id": rid, "parent_id": order_id, "date_created": at,
                      "date_created_gmt": at, "amount": amount, "reason": reason,
                      "refunded_by": 1, "refunded_payment": False, "meta_data": [],
                      "line_items": []}
            self.refunds[rid] = refund
            order["refunds"].insert(0, {"id": rid, "reason": reason, "total": f"-{amount}"})
            refunded = sum(Decimal(r["total"]) for r in order["refunds"])
            status = "refunded" if -refunded >= Decimal(order["total"]) else order["status"]
            return self.modify_order(order_id, status=status)

    def delete_order(self, order_id: int) -> None:
        """Delete an order permanently."""
        with self.lock:
            del self.orders[order_id]
            self._changed()

    # -- queries ------------------------------------------------------------------------------
    def order_ids(self, params: Mapping[str, str]) -> list[int]:
        """Return the ids of orders matching the list filters, in the requested order."""
        key = ("orders", tuple(sorted((k, v) for k, v in params.items()
                                      if k not in ("page", "per_page", "offset", "_fields"))))
        with self.lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            status = params.get("status", "any")
            wanted = None if status == "any" else set(status.split(","))
            bounds = {k: parse_stamp(params[k]) for k in
                      ("modified_after", "modified_before", "after", "before") if params.get(k)}
            include = {int(i) for i in params["include"].split(",")} \
                if params.get("include") else None
            customer = int(params["customer"]) if params.get("customer") else None
            rows = []
            for order in self.orders.values():
                st = order["status"]
                if (wanted is None and st == "trash") or (wanted is not None and st not in wanted):
                    continue
                mod, cre = order["date_modified_gmt"], order["date_created_gmt"]
                if ("modified_after" in bounds and mod <= bounds["modified_after"]) or \
                   ("modified_before" in bounds and mod >= bounds["modified_before"]) or \
                   ("after" in bounds and cre <= bounds["after"]) or \
                   ("before" in bounds and cre >= bounds["before"]):
                    continue
                if include is not None and order["id"] not in include:
                    continue
                if customer is not None and order["customer_id"] != customer:
                    continue
                rows.append(order)
            field = {"id": "id", "date": "date_created_gmt",
                     "modified": "date_modified_gmt"}.get(params.get("orderby", "date"), "id")
            rows.sort(key=lambda o: (o[field], o["id"]),
                      reverse=params.get("order", "desc") == "desc")
            ids = [o["id"] for o in rows]
            self._cache[key] = ids
            return ids

    def customer_ids(self, params: Mapping[str, str]) -> list[int]:
        """Return the ids of customers matching the list filters, in the requested order."""
        with self.lock:
            role = params.get("role", "customer")
            email = params.get("email", "").lower()
            include = {int(i) for i in params["include"].split(",")} \
                if params.get("include") else None
            rows = [c for c in self.customers.values()
                    if (role == "all" or c["role"] == role)
                    and (not email or c["email"].lower() == email)
                    and (include is None or c["id"] in include)]
            rows.sort(key=lambda c: c["id"], reverse=params.get("order", "asc") == "desc")
            return [c["id"] for c in rows]

    def coupon_ids(self, params: Mapping[str, str]) -> list[int]:
        """Return the ids of coupons matching ``code``, ``search`` and ``include``."""
        with self.lock:
            code = params.get("code", "").strip().lower()
            search = params.get("search", "").strip().lower()
            include = {int(i) for i in params["include"].split(",")} \
                if params.get("include") else None
            rows = [c for c in self.coupons.values()
                    if (not code or c["code"] == code)
                    and (not search or search in c["code"] or search in c["description"].lower())
                    and (include is None or c["id"] in include)]
            rows.sort(key=lambda c: c["id"], reverse=params.get("order", "desc") == "desc")
            return [c["id"] for c in rows]

    def refund_ids(self, params: Mapping[str, str]) -> list[int]:
        """Return the ids of refunds matching ``include`` and ``parent``."""
        with self.lock:
            include = {int(i) for i in params["include"].split(",")} \
                if params.get("include") else None
            parent = {int(i) for i in params["parent"].split(",")} \
                if params.get("parent") else None
            rows = [r for r in self.refunds.values()
                    if (include is None or r["id"] in include)
                    and (parent is None or r["parent_id"] in parent)]
            rows.sort(key=lambda r: r["id"], reverse=params.get("order", "desc") == "desc")
            return [r["id"] for r in rows]

    # -- bulk data for tests and benchmarks ---------------------------------------------------
    def generate(self, *, orders: int, customers: int, seed: int = 7, guest_share: float = 0.2,
                 refund_share: float = 0.03, coupon_share: float = 0.1,
                 days: int = 730) -> None:
        """Fill the store with reproducible customers and orders spread over ``days``."""
        rng = random.Random(seed)
        start = self.clock - timedelta(days=days)
        with self.lock:
            for n in range(customers):
                self.add_customer(f"kunde{n}@example.org", f"Vor{n}", f"Nach{n}",
                                  created=start)
            step = timedelta(days=days) / max(orders, 1)
            statuses = ("completed",) * 80 + ("processing",) * 10 + ("cancelled",) * 4 + \
                ("failed",) * 3 + ("pending", "on-hold", "refunded")
            for n in range(orders):
                when = start + step * n
                status = rng.choice(statuses)
                total = f"{rng.randint(500, 15000) / 100:.2f}"
                if customers and rng.random() >= guest_share:
                    cid = rng.randint(1, customers)
                    order = self.add_order(customer_id=cid, status=status, total=total,
                                           created=when)
                else:
                    order = self.add_order(email=f"gast{rng.randint(0, orders)}@example.net",
                                           status=status, total=total, created=when)
                if rng.random() < coupon_share:
                    order["coupon_lines"] = [{"id": 1, "code": "sommer10", "discount": "1.00",
                                              "discount_tax": "0.00", "meta_data": []}]
                if status == "refunded" or rng.random() < refund_share:
                    amount = total if status == "refunded" else \
                        f"{Decimal(total) / 2:.2f}"
                    refunded_at = min(when + timedelta(days=3), self.clock)
                    self.refund(order["id"], amount, when=refunded_at)
                    order["date_modified"] = order["date_modified_gmt"] = stamp(refunded_at)
            self._changed()
