"""What changed in Shopify's Admin schema between the reference SDL (about 2025-10) and the pin.

The reference SDL is the public "unstable" channel of 2025-09-17; the adapter pins
``stammkunde.plugins.shopify.client.DEFAULT_API_VERSION``. Each entry below is one change from
Shopify's developer changelog (or a version's release notes) that touches the schema, with the
version it takes effect in and the entry it comes from; :func:`apply` makes the built schema say
what the pinned version says. Changes read and found not to touch the schema (payload-only,
additive fields we do not use) are listed in ``NOT_APPLIED`` so the next reader need not redo it.

Reviewed: the changelog and release notes of 2025-10, 2026-01, 2026-04, 2026-07 and 2026-10 for
every type and field the adapter sends (see docs/adapters.md, "Shopify calls").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphql import GraphQLArgument, GraphQLSchema

#: The API version the fake speaks; a test holds the adapter's pin to it.
VERSION = "2026-10"


@dataclass(frozen=True)
class Change:
    """One documented schema change: when, what, where it is written, and how to apply it."""

    version: str
    summary: str
    source: str
    apply: Callable[[GraphQLSchema], None]


def _bulk_group_objects_default_false(schema: GraphQLSchema) -> None:
    mutation = schema.mutation_type
    assert mutation is not None
    field = mutation.fields["bulkOperationRunQuery"]
    old = field.args["groupObjects"]
    field.args["groupObjects"] = GraphQLArgument(
        old.type, default_value=False, description=old.description, ast_node=old.ast_node)
    run_mutation = mutation.fields["bulkOperationRunMutation"]
    arg = run_mutation.args["groupObjects"]
    run_mutation.args["groupObjects"] = GraphQLArgument(
        arg.type, default_value=arg.default_value, description=arg.description,
        deprecation_reason="Grouping does not apply to mutation output.", ast_node=arg.ast_node)


def _draft_order_price_rule_removed(schema: GraphQLSchema) -> None:
    warning = schema.get_type("DraftOrderDiscountNotAppliedWarning")
    fields = getattr(warning, "fields", {})
    fields.pop("priceRule", None)


def _item_not_stocked_removed(schema: GraphQLSchema) -> None:
    for name in ("InventorySetQuantitiesUserErrorCode", "InventoryAdjustQuantitiesUserErrorCode",
                 "InventoryMoveQuantitiesUserErrorCode"):
        enum = schema.get_type(name)
        if enum is not None:
            getattr(enum, "values", {}).pop("ITEM_NOT_STOCKED_AT_LOCATION", None)


CHANGES: tuple[Change, ...] = (
    Change("2026-01",
           "bulkOperationRunQuery(groupObjects:) defaults to false (child lines no longer follow "
           "their parent unless asked); bulkOperationRunMutation(groupObjects:) is deprecated",
           "https://shopify.dev/changelog/bulk-operations-group-objects-default-changed-to-false",
           _bulk_group_objects_default_false),
    Change("2026-10",
           "DraftOrderDiscountNotAppliedWarning.priceRule (and the PriceRule types) removed",
           "https://shopify.dev/changelog/release-notes/2026-10 (Orders: draft order discounts)",
           _draft_order_price_rule_removed),
    Change("2026-10",
           "ITEM_NOT_STOCKED_AT_LOCATION removed from the inventory quantity user error codes",
           "https://shopify.dev/changelog/release-notes/2026-10 (Inventory)",
           _item_not_stocked_removed),
)

#: Read and found not to change the schema the adapter uses (kept so nobody redoes the reading).
NOT_APPLIED: tuple[tuple[str, str, str], ...] = (
    ("2025-10", "DiscountCodeBasicInput.context replaces customerSelection (already in the SDL)",
     "https://shopify.dev/changelog?api_type=admin-graphql (Introducing the new context field "
     "to specify discount eligibility)"),
    ("2025-10", "WebhookSubscriptionInput.uri replaces callbackUrl, webhookSubscriptions(uri:) "
     "(already in the SDL, callbackUrl deprecated there)",
     "https://shopify.dev/changelog/consolidate-webhook-graphql-surfaces"),
    ("2025-01", "customers/* webhook payloads lose tags and email_marketing_consent (payloads, "
     "not schema; see tests/plugins/shopify/payloads/README.md)",
     "https://shopify.dev/changelog/new-customer-s-webhook-and-changes-to-existing-customer-s-"
     "webhooks-payload"),
    ("2026-04", "checkout id removed from checkout and order webhooks (payload; we read no "
     "checkout fields)",
     "https://shopify.dev/changelog/removed-checkout-id-from-checkouts-and-orders-webhooks"),
    ("2026-10", "discount types gain a read-only rollouts connection (additive, not selected)",
     "https://shopify.dev/changelog/release-notes/2026-10 (Discounts and marketing)"),
    ("2026-10", "CustomerPhoneNumber SMS consent fields deprecated (not selected)",
     "https://shopify.dev/changelog/release-notes/2026-10 (Customers)"),
)


def apply(schema: GraphQLSchema) -> None:
    """Apply every change up to :data:`VERSION` to a schema built from the reference SDL."""
    for change in CHANGES:
        if change.version <= VERSION:
            change.apply(schema)
