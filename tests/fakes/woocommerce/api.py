"""The fake store's REST routes: what each endpoint of ``/wp-json/wc/v3/`` answers."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.fakes.woocommerce.server import _error, paginate
from tests.fakes.woocommerce.store import FakeStore, stamp

ORDER = re.compile(r"^orders/(\d+)$")
ORDER_REFUNDS = re.compile(r"^orders/(\d+)/refunds$")
CUSTOMER = re.compile(r"^customers/(\d+)$")
COUPON_DEFAULTS: dict[str, Any] = {
    "amount": "0", "discount_type": "fixed_cart", "description": "", "date_expires": None,
    "date_expires_gmt": None, "usage_count": 0, "individual_use": False, "product_ids": [],
    "excluded_product_ids": [], "usage_limit": None, "usage_limit_per_user": None,
    "limit_usage_to_x_items": None, "free_shipping": False, "product_categories": [],
    "excluded_product_categories": [], "exclude_sale_items": False, "minimum_amount": "0.00",
    "maximum_amount": "0.00", "email_restrictions": [], "used_by": [], "meta_data": [],
}


class FakeApi:
    """Dispatches REST requests onto a FakeStore."""

    def __init__(self, store: FakeStore, base_url: str = "", batch_limit: int = 100,
                 refunds_endpoint: bool = True) -> None:
        self.store = store
        self.base_url = base_url
        self.batch_limit = batch_limit
        self.refunds_endpoint = refunds_endpoint

    def dispatch(self, method: str, route: str, params: dict[str, str], data: Any) -> tuple:
        """Answer one request: (status, body) or (status, body, headers)."""
        s = self.store
        with s.lock:
            if method == "GET" and route == "orders":
                return paginate(self.base_url, route, params, s.order_ids(params),
                                lambda i: s.orders[i])
            if method == "GET" and (m := ORDER.match(route)):
                order = s.orders.get(int(m.group(1)))
                return (200, order) if order else _error("woocommerce_rest_shop_order_invalid_id",
                                                         "Invalid ID.", 404)
            if method == "GET" and (m := ORDER_REFUNDS.match(route)):
                oid = int(m.group(1))
                ids = sorted((r for r in s.refunds.values() if r["parent_id"] == oid),
                             key=lambda r: -r["id"])
                return 200, ids
            if method == "GET" and route == "refunds":
                if not self.refunds_endpoint:
                    return _error("rest_no_route", "No route was found matching the URL and "
                                  "request method.", 404)
                return paginate(self.base_url, route, params, s.refund_ids(params),
                                lambda i: s.refunds[i])
            if method == "GET" and route == "customers":
                return paginate(self.base_url, route, params, s.customer_ids(params),
                                lambda i: s.customers[i])
            if method == "GET" and (m := CUSTOMER.match(route)):
                customer = s.customers.get(int(m.group(1)))
                return (200, customer) if customer else _error(
                    "woocommerce_rest_invalid_id", "Invalid resource ID.", 404)
            if method == "POST" and route == "customers/batch":
                return self._batch(data, update=self._update_customer)
            if method == "GET" and route == "coupons":
                return paginate(self.base_url, route, params, s.coupon_ids(params),
                                lambda i: s.coupons[i])
            if method == "POST" and route == "coupons":
                result = self._create_coupon(data or {})
                return (400, result["error"]) if "error" in result else (201, result)
            if method == "POST" and route == "coupons/batch":
                return self._batch(data, create=self._create_coupon)
            if method == "GET" and route == "webhooks":
                return paginate(self.base_url, route, params, sorted(s.webhooks),
                                lambda i: s.webhooks[i])
            if method == "POST" and route == "webhooks":
                result = self._create_webhook(data or {})
                return (400, result["error"]) if "error" in result else (201, result)
            if method == "POST" and route == "webhooks/batch":
                return self._batch(data, create=self._create_webhook)
        return _error("rest_no_route", "No route was found matching the URL and request method.",
                      404)

    def _batch(self, data: Any, create: Any = None, update: Any = None) -> tuple:
        if not isinstance(data, dict):
            return _error("rest_invalid_json", "Invalid JSON body passed.", 400)
        total = sum(len(data.get(k) or ()) for k in ("create", "update", "delete"))
        if total > self.batch_limit:
            return _error("woocommerce_rest_request_entity_too_large",
                          f"Unable to accept more than {self.batch_limit} items for this "
                          "request.", 413)
        out: dict[str, list[Any]] = {}
        if data.get("create"):
            if create is None:
                return _error("rest_invalid_param", "create is not supported here", 400)
            out["create"] = [create(item) for item in data["create"]]
        if data.get("update"):
            if update is None:
                return _error("rest_invalid_param", "update is not supported here", 400)
            out["update"] = [update(item) for item in data["update"]]
        return 200, out

    def _create_coupon(self, item: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        code = str(item.get("code") or "").strip().lower()  # wc_format_coupon_code lower-cases
        if not code:
            return {"id": 0, "error": {"code": "woocommerce_rest_empty_coupon_code",
                                       "message": "The coupon code cannot be empty.",
                                       "data": {"status": 400}}}
        if code in s.coupon_codes:
            return {"id": 0, "error": {"code": "woocommerce_rest_coupon_code_already_exists",
                                       "message": "The coupon code already exists",
                                       "data": {"status": 400}}}
        cid = s._next_post()
        when = stamp(s.clock)
        coupon = copy.deepcopy(COUPON_DEFAULTS)
        coupon.update({k: v for k, v in item.items() if k in COUPON_DEFAULTS})
        coupon["email_restrictions"] = [str(e).lower() for e in coupon["email_restrictions"]]
        if item.get("date_expires_gmt"):
            coupon["date_expires"] = item["date_expires_gmt"]
        coupon.update({"id": cid, "code": code, "date_created": when, "date_created_gmt": when,
                       "date_modified": when, "date_modified_gmt": when})
        s.coupons[cid] = coupon
        s.coupon_codes[code] = cid
        s._changed()
        return coupon

    def _update_customer(self, item: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        customer = s.customers.get(int(item.get("id") or 0))
        if customer is None:
            return {"id": item.get("id"), "error": {"code": "woocommerce_rest_invalid_id",
                                                    "message": "Invalid resource ID.",
                                                    "data": {"status": 400}}}
        for meta in item.get("meta_data") or ():
            existing = next((m for m in customer["meta_data"] if m["key"] == meta["key"]), None)
            if existing is None:
                customer["meta_data"].append({"id": len(customer["meta_data"]) + 1,
                                              "key": meta["key"], "value": meta["value"]})
            else:
                existing["value"] = meta["value"]
        for field in ("first_name", "last_name", "email"):
            if field in item:
                customer[field] = item[field]
        customer["date_modified"] = customer["date_modified_gmt"] = stamp(s.clock)
        s._changed()
        return customer

    def _create_webhook(self, item: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        topic = str(item.get("topic") or "")
        if not topic or not item.get("delivery_url"):
            return {"id": 0, "error": {"code": "woocommerce_rest_invalid_webhook",
                                       "message": "Webhook topic and delivery URL are required.",
                                       "data": {"status": 400}}}
        resource, _, event = topic.partition(".")
        wid = max(s.webhooks, default=0) + 1
        when = stamp(s.clock)
        hook = {"id": wid, "name": item.get("name") or topic, "status": item.get("status",
                                                                                 "active"),
                "topic": topic, "resource": resource, "event": event, "hooks": [],
                "delivery_url": item["delivery_url"], "secret": item.get("secret") or "",
                "date_created": when, "date_created_gmt": when, "date_modified": when,
                "date_modified_gmt": when}
        s.webhooks[wid] = hook
        return hook
