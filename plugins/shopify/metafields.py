"""Customer metafields out: the offer written with ``metafieldsSet`` (at most 25 per call).

Shopify documents ``metafieldsSet`` as atomic (an error sets nothing of the call) and limited to
25 metafields per call (Admin API schema, ``Mutation.metafieldsSet``). A customer's fields are
never split across calls, so each customer's fields are written all or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stammkunde.plugins.shopify.client import GraphQLClient
from stammkunde.plugins.shopify.mapping import gid

METAFIELDS_MAX = 25  # metafieldsSet: "Allows a maximum of 25 metafields to be set at a time"
#: Metafield types by key; every other key is a single line of text.
TYPES = {"offer_expires_at": "date_time"}

METAFIELDS_SET = """mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id }
    userErrors { field message code elementIndex }
  }
}"""


def _calls(values: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """Group customers so that no call carries more than 25 metafields."""
    calls: list[list[str]] = []
    size = 0
    for cid, fields in values.items():
        n = len(fields)
        if n > METAFIELDS_MAX:
            raise ValueError(f"{n} fields for one customer exceed Shopify's {METAFIELDS_MAX} "
                             "metafields per call")
        if not calls or size + n > METAFIELDS_MAX:
            calls.append([])
            size = 0
        calls[-1].append(cid)
        size += n
    return calls


def set_fields(client: GraphQLClient, namespace: str,
               values: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Write ``values`` (customer id -> key -> text) as metafields; customer id -> "ok"/reason."""
    out: dict[str, str] = {}
    for customers in _calls(values):
        inputs: list[dict[str, Any]] = []
        owner: list[str] = []  # metafield index -> customer id
        for cid in customers:
            for key, text in values[cid].items():
                inputs.append({"ownerId": gid("Customer", cid), "namespace": namespace,
                               "key": key, "value": text,
                               "type": TYPES.get(key, "single_line_text_field")})
                owner.append(cid)
        data = client.execute(METAFIELDS_SET, {"metafields": inputs}, operation="MetafieldsSet",
                              expected_cost=10)
        errors = (data.get("metafieldsSet") or {}).get("userErrors") or []
        if not errors:
            out.update(dict.fromkeys(customers, "ok"))
            continue
        mine: dict[str, list[str]] = {}
        for e in errors:
            index = _index(e)
            if index is not None and 0 <= index < len(owner):
                mine.setdefault(owner[index], []).append(e["message"])
        first = errors[0]["message"]
        for cid in customers:  # atomic: nothing of this call was written
            out[cid] = "; ".join(mine[cid]) if cid in mine else \
                f"not written: another customer's field in the same call failed ({first})"
    return out


def _index(error: Mapping[str, Any]) -> int | None:
    if error.get("elementIndex") is not None:
        return int(error["elementIndex"])
    field = error.get("field") or []
    if len(field) >= 2 and field[0] == "metafields" and str(field[1]).isdigit():
        return int(field[1])
    return None
