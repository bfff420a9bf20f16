"""Root fields of the fake Admin API: the queries and mutations the adapter uses.

Shapes: https://shopify.dev/docs/api/admin-graphql/2026-10 (orders, customers, ordersCount,
bulkOperationRunQuery, node, codeDiscountNodeByCode, discountCodeBasicCreate,
discountRedeemCodeBulkAdd, discountRedeemCodeBulkCreation, tagsAdd, tagsRemove, metafieldsSet,
webhookSubscriptionCreate).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.fakes.shopify.data import Keyed

if TYPE_CHECKING:
    from tests.fakes.shopify.server import FakeShopify

SINCE = re.compile(r"updated_at:>'?([0-9T:.Z+-]+)'?")
MAX_PAGE = 250
BULK_ADD_MAX = 250


def _since(query: str | None) -> str | None:
    if not query:
        return None
    match = SINCE.search(query)
    if match is None:
        raise ValueError(f"the fake only understands updated_at:>'...' filters, not {query!r}")
    return match.group(1)


def _user_error(message: str, code: str | None = None, field: list[str] | None = None
                ) -> dict[str, Any]:
    return {"field": field, "code": code, "message": message}


class Resolvers:
    """One method per root field; each takes the field's arguments."""

    def __init__(self, fake: FakeShopify) -> None:
        self.fake = fake
        self.data = fake.data

    # --- reading ---------------------------------------------------------------------------

    def _connection(self, keyed: Keyed, args: dict[str, Any]) -> dict[str, Any]:
        from tests.fakes.shopify.server import decode_cursor, encode_cursor

        first = int(args.get("first") or 0)
        if not 0 < first <= MAX_PAGE:
            raise ValueError(f"first must be between 1 and {MAX_PAGE}")
        if args.get("sortKey") not in (None, "UPDATED_AT"):
            raise ValueError("the fake pages in UPDATED_AT order only")
        nodes, more = keyed.page(decode_cursor(args.get("after")), _since(args.get("query")),
                                 first)
        edges = [{"cursor": encode_cursor(n), "node": n} for n in nodes]
        return {"edges": edges, "pageInfo": {
            "hasNextPage": more, "hasPreviousPage": bool(args.get("after")),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None}}

    def orders(self, args: dict[str, Any]) -> dict[str, Any]:
        """``orders(first, after, query, sortKey)``."""
        return self._connection(self.data.orders, args)

    def customers(self, args: dict[str, Any]) -> dict[str, Any]:
        """``customers(first, after, query, sortKey)``."""
        return self._connection(self.data.customers, args)

    def ordersCount(self, args: dict[str, Any]) -> dict[str, Any]:
        """``ordersCount(limit)``."""
        return {"count": self.data.orders.count(), "precision": "EXACT"}

    def customersCount(self, args: dict[str, Any]) -> dict[str, Any]:
        """``customersCount(limit)``."""
        return {"count": self.data.customers.count(), "precision": "EXACT"}

    # --- bulk export -----------------------------------------------------------------------

    def bulkOperationRunQuery(self, args: dict[str, Any]) -> dict[str, Any]:
        """Start a bulk export (one running query operation per shop)."""
        if any(op["status"] in ("CREATED", "RUNNING") for op in self.data.bulk_ops.values()):
            return {"bulkOperation": None, "userErrors": [_user_error(
                "A bulk query operation for this app and shop is already in progress.",
                "OPERATION_IN_PROGRESS")]}
        match = re.search(r"{\s*(orders|customers)\b", args["query"])
        if match is None:
            return {"bulkOperation": None, "userErrors": [_user_error("Invalid bulk query")]}
        op_id = f"gid://shopify/BulkOperation/{self.data.new_id()}"
        self.data.bulk_ops[op_id] = {"id": op_id, "status": "CREATED", "polls": 0,
                                     "resource": match.group(1),
                                     "grouped": bool(args.get("groupObjects"))}
        return {"bulkOperation": {"id": op_id, "status": "CREATED"}, "userErrors": []}

    def node(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """``node(id)`` for BulkOperation objects."""
        op = self.data.bulk_ops.get(args["id"])
        if op is None:
            return None
        op["polls"] += 1
        if op["status"] in ("CREATED", "RUNNING") and op["polls"] >= self.fake.bulk_polls:
            export = self.data.bulk_export(op["resource"], op["grouped"])
            name = op["id"].rsplit("/", 1)[-1] + ".jsonl"
            self.data.bulk_files[name] = export
            op.update(status="COMPLETED",
                      url=f"{self.fake.base_url}/bulk/{name}" if export.object_count else None,
                      objectCount=str(export.object_count), rootObjectCount=str(export.root_count))
        elif op["status"] == "CREATED":
            op["status"] = "RUNNING"
        return {"__typename": "BulkOperation", "id": op["id"], "status": op["status"],
                "errorCode": None,
                "objectCount": op.get("objectCount", "0"),
                "rootObjectCount": op.get("rootObjectCount", "0"),
                "url": op.get("url"), "partialDataUrl": None}

    # --- discounts -------------------------------------------------------------------------

    def codeDiscountNodeByCode(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """Find a code discount by one of its codes (case-insensitive, as Shopify)."""
        found = self.data.codes.get(str(args["code"]).casefold())
        return {"id": found} if found else None

    def discountCodeBasicCreate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Create an amount-off code discount with its first code."""
        inp = args["basicCodeDiscount"]
        errors = []
        code = str(inp.get("code") or "")
        if not code or not inp.get("title"):
            errors.append(_user_error("Code and title are required", "BLANK"))
        elif code.casefold() in self.data.codes:
            errors.append(_user_error("Code must be unique. Please try a different code.",
                                      "TAKEN", ["basicCodeDiscount", "code"]))
        customers = ((inp.get("context") or {}).get("customers") or {}).get("add") or []
        unknown = [c for c in customers
                   if c.rsplit("/", 1)[-1] not in self.data.customers.nodes]
        if unknown:
            errors.append(_user_error(f"Customer does not exist: {unknown[0]}", "INVALID"))
        if errors:
            return {"codeDiscountNode": None, "userErrors": errors}
        discount_id = f"gid://shopify/DiscountCodeNode/{self.data.new_id()}"
        self.data.discounts[discount_id] = {**inp, "codes": [code], "customers": list(customers)}
        self.data.codes[code.casefold()] = discount_id
        return {"codeDiscountNode": {"id": discount_id}, "userErrors": []}

    def discountRedeemCodeBulkAdd(self, args: dict[str, Any]) -> dict[str, Any]:
        """Queue codes to add to a discount (at most 250 per call)."""
        discount = self.data.discounts.get(args["discountId"])
        codes = [c["code"] for c in args["codes"]]
        if discount is None:
            return {"bulkCreation": None, "userErrors": [_user_error("Discount does not exist")]}
        if len(codes) > BULK_ADD_MAX:
            return {"bulkCreation": None, "userErrors": [_user_error(
                f"Codes can't exceed {BULK_ADD_MAX} codes per request", "TOO_MANY_ARGUMENTS")]}
        results = []
        for code in codes:
            if code.casefold() in self.data.codes:
                results.append({"code": code, "errors": [{"message": "Code must be unique."}]})
            else:
                self.data.codes[code.casefold()] = args["discountId"]
                discount["codes"].append(code)
                results.append({"code": code, "errors": []})
        job = f"gid://shopify/DiscountRedeemCodeBulkCreation/{self.data.new_id()}"
        self.data.code_jobs[job] = {"results": results, "polls": 0}
        return {"bulkCreation": {"id": job}, "userErrors": []}

    def discountRedeemCodeBulkCreation(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """The state of a bulk code creation."""
        job = self.data.code_jobs.get(args["id"])
        if job is None:
            return None
        job["polls"] += 1
        done = job["polls"] >= self.fake.code_job_polls
        results = job["results"]
        failed = sum(1 for r in results if r["errors"])
        return {"id": args["id"], "done": done, "codesCount": len(results),
                "importedCount": len(results) - failed if done else 0,
                "failedCount": failed if done else 0,
                "codes": {"edges": [{"node": r} for r in results] if done else []}}

    # --- tags and webhooks -----------------------------------------------------------------

    def _tags(self, args: dict[str, Any], add: bool) -> dict[str, Any]:
        node = self.data.customers.nodes.get(str(args["id"]).rsplit("/", 1)[-1])
        if node is None:
            return {"node": None, "userErrors": [_user_error("Customer does not exist",
                                                             field=["id"])]}
        tags = set(node["tags"])
        tags = tags | set(args["tags"]) if add else tags - set(args["tags"])
        self.data.customers.put(dict(node, tags=sorted(tags)))
        return {"node": {"id": node["id"]}, "userErrors": []}

    def tagsAdd(self, args: dict[str, Any]) -> dict[str, Any]:
        """Add tags to a customer."""
        return self._tags(args, True)

    def tagsRemove(self, args: dict[str, Any]) -> dict[str, Any]:
        """Remove tags from a customer."""
        return self._tags(args, False)

    def metafieldsSet(self, args: dict[str, Any]) -> dict[str, Any]:
        """Set metafields atomically: at most 25, every owner must exist, else nothing is set."""
        inputs = args["metafields"]
        if len(inputs) > 25:
            return {"metafields": None, "userErrors": [_user_error(
                "Exceeded the maximum metafields input limit of 25.", "LESS_THAN_OR_EQUAL_TO",
                ["metafields"])]}
        errors = []
        for i, m in enumerate(inputs):
            legacy = str(m["ownerId"]).rsplit("/", 1)[-1]
            if legacy not in self.data.customers.nodes:
                errors.append({**_user_error("Owner does not exist.", "INVALID_VALUE",
                                             ["metafields", str(i), "ownerId"]),
                               "elementIndex": i})
            elif not m.get("value"):
                errors.append({**_user_error("Value can't be blank.", "BLANK",
                                             ["metafields", str(i), "value"]),
                               "elementIndex": i})
        if errors:
            return {"metafields": None, "userErrors": errors}
        out = []
        for m in inputs:
            key = (str(m["ownerId"]), m.get("namespace") or "app", m["key"])
            self.data.metafields[key] = {"value": m["value"], "type": m.get("type")}
            out.append({"id": f"gid://shopify/Metafield/{self.data.new_id()}"})
        return {"metafields": out, "userErrors": []}

    def webhookSubscriptionCreate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Subscribe a topic to a URI (``uri``; ``callbackUrl`` is deprecated since 2025-10)."""
        topic = args["topic"]
        sub = args["webhookSubscription"]
        uri = sub.get("uri") or sub.get("callbackUrl")
        if any(w["topic"] == topic and w["uri"] == uri for w in self.data.webhooks.values()):
            return {"webhookSubscription": None, "userErrors": [_user_error(
                "Address for this topic has already been taken", field=["webhookSubscription"])]}
        wid = f"gid://shopify/WebhookSubscription/{self.data.new_id()}"
        self.data.webhooks[wid] = {"id": wid, "topic": topic, "uri": uri}
        return {"webhookSubscription": dict(self.data.webhooks[wid]), "userErrors": []}

    def webhookSubscriptions(self, args: dict[str, Any]) -> dict[str, Any]:
        """The app's subscriptions, in creation order (``first``/``after`` paging)."""
        items = sorted(self.data.webhooks.values(), key=lambda w: int(w["id"].rsplit("/", 1)[1]))
        start = int(args["after"]) if args.get("after") else 0
        page = items[start:start + int(args.get("first") or 0)]
        end = start + len(page)
        return {"edges": [{"cursor": str(start + i + 1), "node": dict(w)}
                          for i, w in enumerate(page)],
                "nodes": [dict(w) for w in page],
                "pageInfo": {"hasNextPage": end < len(items), "hasPreviousPage": start > 0,
                             "startCursor": str(start + 1) if page else None,
                             "endCursor": str(end) if page else None}}
