"""The simulated platform's adapter: codes, tags and customer fields in local tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from stammkunde.core.errors import UserError
from stammkunde.core.models import Customer, Shop
from stammkunde.core.offer_models import (
    SimulatedCustomerField,
    SimulatedCustomerTag,
    SimulatedDiscount,
)
from stammkunde.core.timeutil import now
from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountResult,
    DiscountTarget,
    PlatformAdapter,
    ShopConnection,
)


class SimulatedAdapter(PlatformAdapter):
    """A shop that exists only in the Stammkunde database: the demo's platform."""

    name: ClassVar[str] = "simulated"
    display_name: ClassVar[str] = "Simulated shop (demo, no network)"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.DISCOUNTS, Capability.TAGS, Capability.CUSTOMER_FIELDS,
    })

    def _session(self, shop: ShopConnection) -> Session:
        if shop.database is None:
            raise UserError(f"shop {shop.name!r} is on the simulated platform, which keeps its "
                            "state in the Stammkunde database, but none was given")
        return Session(shop.database, expire_on_commit=False)

    @staticmethod
    def _shop_id(session: Session, shop: ShopConnection) -> int:
        shop_id = session.scalar(select(Shop.id).where(Shop.name == shop.name))
        if shop_id is None:
            raise UserError(f"unknown shop {shop.name!r}")
        return int(shop_id)

    @staticmethod
    def _known(session: Session, shop_id: int, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            found.update(session.scalars(select(Customer.platform_id).where(
                Customer.shop_id == shop_id, Customer.platform_id.in_(wanted[i : i + 500]))))
        return found

    def push_discounts(
        self, shop: ShopConnection, offer: DiscountOffer, targets: Sequence[DiscountTarget]
    ) -> Iterator[DiscountResult]:
        """Store one code per target (or the shared code once); existing codes are ``exists``."""
        with self._session(shop) as session, session.begin():
            shop_id = self._shop_id(session, shop)
            keys = {t.code.casefold() for t in targets}
            existing = {key: did for key, did in session.execute(
                select(SimulatedDiscount.code_key, SimulatedDiscount.id).where(
                    SimulatedDiscount.shop_id == shop_id, SimulatedDiscount.code_key.in_(keys)))}
            known = self._known(session, shop_id, (t.customer_id for t in targets))
            results = []
            for t in targets:
                key = t.code.casefold()
                if t.customer_id not in known:
                    results.append(DiscountResult(t.customer_id, t.code, "failed",
                                                  "no such customer in the shop"))
                    continue
                if key in existing:
                    results.append(DiscountResult(t.customer_id, t.code, "exists",
                                                  platform_id=f"sim-{existing[key]}"))
                    continue
                row = SimulatedDiscount(
                    shop_id=shop_id, code=t.code, code_key=key,
                    customer_platform_id=None if offer.shared_code else t.customer_id,
                    title=offer.title, kind=offer.kind, value=offer.value,
                    minimum_order=offer.minimum_order, starts_at=offer.starts_at,
                    ends_at=offer.ends_at, usage_limit=offer.usage_limit_per_customer, used=0,
                    created_at=now())
                session.add(row)
                session.flush()
                existing[key] = row.id
                results.append(DiscountResult(t.customer_id, t.code, "created",
                                              platform_id=f"sim-{row.id}"))
        yield from results

    def tag_customers(
        self, shop: ShopConnection, tag: str, customer_ids: Iterable[str], *, remove: bool = False
    ) -> dict[str, str]:
        """Add (or remove) a tag on the shop's customers; unknown customers fail."""
        ids = list(dict.fromkeys(customer_ids))
        with self._session(shop) as session, session.begin():
            shop_id = self._shop_id(session, shop)
            known = self._known(session, shop_id, ids)
            ok = [c for c in ids if c in known]
            if ok:
                session.execute(delete(SimulatedCustomerTag).where(
                    SimulatedCustomerTag.shop_id == shop_id, SimulatedCustomerTag.tag == tag,
                    SimulatedCustomerTag.customer_platform_id.in_(ok)))
                if not remove:
                    session.add_all(SimulatedCustomerTag(shop_id=shop_id, customer_platform_id=c,
                                                         tag=tag) for c in ok)
        return {c: "ok" if c in known else "no such customer in the shop" for c in ids}

    def set_customer_fields(
        self, shop: ShopConnection, namespace: str, values: Mapping[str, Mapping[str, str]]
    ) -> dict[str, str]:
        """Store the fields per customer (replacing the same keys); unknown customers fail."""
        with self._session(shop) as session, session.begin():
            shop_id = self._shop_id(session, shop)
            known = self._known(session, shop_id, values)
            at = now()
            for cid, fields in values.items():
                if cid not in known:
                    continue
                for key, text in fields.items():
                    session.merge(SimulatedCustomerField(
                        shop_id=shop_id, customer_platform_id=cid, namespace=namespace, key=key,
                        value=text, updated_at=at))
        return {c: "ok" if c in known else "no such customer in the shop" for c in values}

    def count_uses(self, shop: ShopConnection, codes: Iterable[str]) -> int:
        """Record that orders used these codes (each listed once per order); return how many.

        A code's use count becomes the number of times it is listed, so recording the same
        orders again changes nothing.
        """
        uses: dict[str, int] = {}
        for code in codes:
            uses[code.casefold()] = uses.get(code.casefold(), 0) + 1
        with self._session(shop) as session, session.begin():
            shop_id = self._shop_id(session, shop)
            rows = {key: did for key, did in session.execute(
                select(SimulatedDiscount.code_key, SimulatedDiscount.id).where(
                    SimulatedDiscount.shop_id == shop_id,
                    SimulatedDiscount.code_key.in_(sorted(uses))))}
            if rows:
                session.execute(update(SimulatedDiscount), [
                    {"id": did, "used": uses[key]} for key, did in rows.items()])
        return sum(uses[k] for k in rows)


def simulated_state(session: Session, shop_id: int) -> dict[str, Any]:
    """Return counts of the simulated platform's codes, redemptions, tags and fields of a shop."""
    from sqlalchemy import func

    def count(table: Any, *cond: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(table).where(*cond)) or 0)

    return {
        "codes": count(SimulatedDiscount, SimulatedDiscount.shop_id == shop_id),
        "redeemed": int(session.scalar(select(func.coalesce(func.sum(SimulatedDiscount.used), 0))
                                       .where(SimulatedDiscount.shop_id == shop_id)) or 0),
        "tags": count(SimulatedCustomerTag, SimulatedCustomerTag.shop_id == shop_id),
        "fields": count(SimulatedCustomerField, SimulatedCustomerField.shop_id == shop_id),
    }
