"""The GraphQL documents the adapter sends (Admin API shapes of the pinned version).

Every document here is validated against Shopify's published Admin schema plus the documented
changes up to the pin (tests/plugins/shopify/test_documents.py; no deprecated field, argument or
input field allowed). Field references (``<v>`` = the pinned version, client.DEFAULT_API_VERSION):
https://shopify.dev/docs/api/admin-graphql/<v>/objects/Order, .../objects/Customer,
.../queries/orders, .../queries/customers, .../queries/ordersCount,
.../mutations/bulkOperationRunQuery, .../mutations/discountCodeBasicCreate,
.../mutations/discountRedeemCodeBulkAdd, .../queries/discountRedeemCodeBulkCreation,
.../queries/codeDiscountNodeByCode, .../mutations/tagsAdd, .../mutations/webhookSubscriptionCreate,
.../queries/webhookSubscriptions.
"""

from __future__ import annotations

ORDER_FIELDS = """
  id legacyResourceId createdAt updatedAt cancelledAt test displayFinancialStatus
  currencyCode email sourceName discountCodes
  totalPriceSet { shopMoney { amount currencyCode } }
  customer { id }
  refunds { id createdAt totalRefundedSet { shopMoney { amount currencyCode } } }
"""
LINE_FIELDS = "quantity sku title product { id } originalUnitPriceSet { shopMoney { amount } }"
# ``Customer.email`` and ``emailMarketingConsent`` are deprecated since 2025-04 in favour of
# ``defaultEmailAddress`` (https://shopify.dev/changelog/adding-defaultemailaddress-field-to-customer)
CUSTOMER_FIELDS = """
  id legacyResourceId firstName lastName createdAt updatedAt tags
  defaultEmailAddress { emailAddress marketingState }
"""

ORDERS_PAGE = f"""
query OrdersPage($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ cursor node {{ {ORDER_FIELDS}
      lineItems(first: 10) {{ edges {{ node {{ {LINE_FIELDS} }} }} }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

CUSTOMERS_PAGE = f"""
query CustomersPage($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ cursor node {{ {CUSTOMER_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

COUNTS = """
query Counts { ordersCount(limit: null) { count } customersCount(limit: null) { count } }"""

# Bulk queries take no `first` and no pagination; nested connections become child lines that
# carry `__parentId` (https://shopify.dev/docs/api/usage/bulk-operations/queries).
BULK_ORDERS = f"""{{ orders {{ edges {{ node {{ {ORDER_FIELDS}
  lineItems {{ edges {{ node {{ {LINE_FIELDS} }} }} }} }} }} }} }}"""
BULK_CUSTOMERS = f"{{ customers {{ edges {{ node {{ {CUSTOMER_FIELDS} }} }} }} }}"

# ``groupObjects`` defaults to false since 2026-01: child lines no longer follow their parent
# unless asked (https://shopify.dev/changelog/bulk-operations-group-objects-default-changed-to-false).
# It is passed explicitly: true for orders (line items are child lines), false for customers.
BULK_RUN = """
mutation BulkRun($query: String!, $groupObjects: Boolean!) {
  bulkOperationRunQuery(query: $query, groupObjects: $groupObjects) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""

BULK_POLL = """
query BulkPoll($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount rootObjectCount url partialDataUrl }
  }
}"""

DISCOUNT_CREATE = """
mutation DiscountCreate($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""

CODES_BULK_ADD = """
mutation CodesBulkAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) {
    bulkCreation { id }
    userErrors { field code message }
  }
}"""

CODES_BULK_POLL = """
query CodesBulkPoll($id: ID!) {
  discountRedeemCodeBulkCreation(id: $id) {
    id done codesCount importedCount failedCount
    codes(first: 250) { edges { node { code errors { message } } } }
  }
}"""

# ``WebhookSubscriptionInput.uri`` replaces the deprecated ``callbackUrl`` since 2025-10
# (https://shopify.dev/changelog/consolidate-webhook-graphql-surfaces).
WEBHOOK_CREATE = """
mutation WebhookCreate($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""

WEBHOOKS_PAGE_SIZE = 100
WEBHOOKS_LIST = """
query Webhooks($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def codes_lookup(count: int) -> str:
    """A query asking for ``count`` codes at once (aliases c0..c{n-1}, variables $k0..)."""
    params = ", ".join(f"$k{i}: String!" for i in range(count))
    body = "\n".join(
        f"  c{i}: codeDiscountNodeByCode(code: $k{i}) {{ id }}" for i in range(count))
    return f"query CodesLookup({params}) {{\n{body}\n}}"


def tags_mutation(count: int, remove: bool) -> str:
    """A mutation adding (or removing) a tag on ``count`` customers (aliases t0..)."""
    field = "tagsRemove" if remove else "tagsAdd"
    params = ", ".join(f"$id{i}: ID!" for i in range(count))
    body = "\n".join(f"  t{i}: {field}(id: $id{i}, tags: $tags) {{ userErrors {{ message }} }}"
                     for i in range(count))
    return f"mutation Tags({params}, $tags: [String!]!) {{\n{body}\n}}"
