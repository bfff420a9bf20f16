"""The adapter contract kit: behavioural tests every platform adapter runs against its own fake.

Subclass :class:`AdapterContract` in a test module and override the fixtures that describe your
adapter and its fake platform; every test whose capability the adapter does not declare is
skipped. The module is also a pytest plugin (entry point ``pytest11``: ``stammkunde``), so the
``stammkunde_sessions`` and ``stammkunde_shop`` fixtures are available in any project that has
Stammkunde installed. See ``docs/adapters.md`` for a worked example.

    from stammkunde.plugins.testing import AdapterContract, WebhookSample

    class TestMyAdapter(AdapterContract):
        @pytest.fixture
        def adapter(self):
            return MyAdapter()
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core import records as rec
from stammkunde.core.records import Batch, Record
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountTarget,
    PlatformAdapter,
    ShopConnection,
    Unsupported,
    WebhookEnvelope,
    WebhookRejected,
)
from stammkunde.plugins.ingest import parse_delivery
from stammkunde.plugins.manager import validate_adapter

pytest.register_assert_rewrite("stammkunde.plugins.contract_checks")

from stammkunde.plugins.contract_checks import (  # noqa: E402
    call_with_samples,
    check_record,
    collect,
    del_header,
    header,
    record_key,
    set_header,
    temporary_sessions,
)

F = TypeVar("F", bound=Callable[..., Any])

# Which adapter methods each capability promises (called with the kit's sample arguments).
CAPABILITY_METHODS: dict[Capability, tuple[str, ...]] = {
    Capability.IMPORT_FILE: ("import_file",),
    Capability.SYNC: ("fetch_orders", "fetch_customers"),
    Capability.WEBHOOKS: ("verify_webhook", "parse_webhook", "subscribe_webhooks"),
    Capability.DISCOUNTS: ("push_discounts",),
    Capability.TAGS: ("tag_customers",),
    Capability.CUSTOMER_FIELDS: ("set_customer_fields",),
    Capability.INSTALL: ("install_url", "verify_install_query", "exchange_install_code"),
}


@dataclass(frozen=True)
class WebhookSample:
    """A correctly signed delivery as the platform sends it: headers and the raw body."""

    headers: Mapping[str, str]
    body: bytes
    topic: str | None = None
    expect_records: bool = True


@pytest.fixture
def stammkunde_sessions(tmp_path: Path) -> sessionmaker[Session]:
    """A session factory on a fresh, fully migrated SQLite database."""
    return temporary_sessions(tmp_path)


@pytest.fixture
def stammkunde_shop() -> Callable[..., int]:
    """A function ``(sessions, name, platform, **kw)`` that creates a shop and returns its id."""

    def make(sessions: sessionmaker[Session], name: str, platform: str, **kw: Any) -> int:
        with sessions() as session, session.begin():
            return create_shop(session, name, platform, **kw).id

    return make


def needs(capability: Capability) -> Callable[[F], F]:
    """Mark a contract test as needing a capability (skipped when the adapter lacks it)."""

    def mark(fn: F) -> F:
        fn._stammkunde_capability = capability  # type: ignore[attr-defined]
        return fn

    return mark


class AdapterContract:
    """Base class of an adapter's contract tests: override the fixtures, inherit the tests.

    Required: ``adapter``. Per declared capability: ``shop`` (a connection to your fake
    platform: sync, discounts, tags), ``webhook_samples`` + ``webhook_secret`` +
    ``signature_header`` (webhooks), ``sample_file`` (file import), ``install_query`` (install).
    Optional: ``discount_targets``, ``tag_customer_ids``, ``count_discounts``,
    ``platform_counts``.
    """

    # --- fixtures an adapter author overrides -------------------------------------------------

    @pytest.fixture
    def adapter(self) -> PlatformAdapter:
        """Your adapter instance."""
        pytest.fail("override the `adapter` fixture with your PlatformAdapter instance")

    @pytest.fixture
    def shop(self) -> ShopConnection:
        """A ShopConnection pointing at your fake platform (holding at least two pages)."""
        pytest.fail("override the `shop` fixture with a ShopConnection to your fake platform")

    @pytest.fixture
    def webhook_secret(self) -> str:
        """The secret your webhook samples are signed with."""
        pytest.fail("override `webhook_secret` (the adapter declares webhooks)")

    @pytest.fixture
    def signature_header(self) -> str:
        """The name of the header that carries the signature."""
        pytest.fail("override `signature_header` (the adapter declares webhooks)")

    @pytest.fixture
    def webhook_samples(self) -> Sequence[WebhookSample]:
        """Correctly signed deliveries, one per topic you handle."""
        pytest.fail("override `webhook_samples` (the adapter declares webhooks)")

    @pytest.fixture
    def sample_file(self) -> tuple[Path, str | None]:
        """An export file your adapter imports, and its format name (None for the default)."""
        pytest.fail("override `sample_file` (the adapter declares import_file)")

    @pytest.fixture
    def install_query(self) -> tuple[Mapping[str, str], str]:
        """A correctly signed install callback query and the app secret it is signed with."""
        pytest.fail("override `install_query` (the adapter declares install)")

    @pytest.fixture
    def discount_offer(self) -> DiscountOffer:
        """The offer pushed by the discount tests."""
        return DiscountOffer(title="Contract test", kind="percentage", value=Decimal("10"),
                             starts_at=datetime(2025, 1, 1, tzinfo=UTC),
                             ends_at=datetime(2025, 2, 1, tzinfo=UTC),
                             minimum_order=Decimal("20.00"))

    @pytest.fixture
    def discount_targets(self, adapter: PlatformAdapter,
                         shop: ShopConnection) -> Sequence[DiscountTarget]:
        """Customers to give codes to; by default the first three the adapter fetches."""
        ids = _first_customer_ids(adapter, shop, 3)
        return [DiscountTarget(customer_id=c, email=None, code=f"SKCONTRACT{i}")
                for i, c in enumerate(ids)]

    @pytest.fixture
    def tag_customer_ids(self, adapter: PlatformAdapter, shop: ShopConnection) -> list[str]:
        """Customers to tag; by default the first two the adapter fetches."""
        return _first_customer_ids(adapter, shop, 2)

    @pytest.fixture
    def count_discounts(self) -> Callable[[], int] | None:
        """A function counting the discount codes on your fake platform (None: trust results)."""
        return None

    @pytest.fixture
    def platform_counts(self) -> Mapping[str, int] | None:
        """How many orders and customers your fake holds, to catch skipped records (optional)."""
        return None

    @pytest.fixture
    def webhook_shop(self, adapter: PlatformAdapter, request: pytest.FixtureRequest
                     ) -> ShopConnection:
        """The shop ``parse_webhook`` is given: your ``shop`` when you declare sync."""
        if Capability.SYNC in adapter.capabilities:
            return request.getfixturevalue("shop")
        return ShopConnection(name="contract", platform=adapter.name)

    @pytest.fixture
    def order_webhook(self) -> Callable[[str], WebhookSample] | None:
        """A signed delivery of the order with this platform id, as the platform sends it.

        Needed when the adapter declares both sync and webhooks: the kit checks that an order
        gives the same record through a sync and through a webhook.
        """
        return None

    @pytest.fixture(autouse=True)
    def _capability_gate(self, request: pytest.FixtureRequest, adapter: PlatformAdapter) -> None:
        """Skip a test before its fixtures are built when the adapter lacks its capability."""
        capability = getattr(request.function, "_stammkunde_capability", None)
        if capability is not None and capability not in adapter.capabilities:
            pytest.skip(f"{adapter.name} does not declare {capability.value}")

    # --- identity and capabilities ------------------------------------------------------------

    def test_name_and_registration_are_valid(self, adapter: PlatformAdapter) -> None:
        """The adapter has a valid name and passes the plugin manager's checks."""
        validate_adapter(adapter, "contract-test")
        assert adapter.name == adapter.name.lower(), "platform names are lower case"
        assert adapter.display_name, "set display_name (shown by `stammkunde plugins`)"

    def test_capabilities_match_implementation(self, adapter: PlatformAdapter) -> None:
        """Declared capabilities are implemented; undeclared ones raise Unsupported."""
        for capability, methods in CAPABILITY_METHODS.items():
            for method in methods:
                own = getattr(type(adapter), method) is not getattr(PlatformAdapter, method)
                if capability in adapter.capabilities:
                    assert own, f"{adapter.name} declares {capability.value} but lacks {method}"
                else:
                    with pytest.raises(Unsupported):
                        call_with_samples(adapter, method)

    # --- webhooks -----------------------------------------------------------------------------

    @needs(Capability.WEBHOOKS)
    def test_webhook_good_signature_accepted(
        self, adapter: PlatformAdapter, webhook_samples: Sequence[WebhookSample],
        webhook_secret: str,
    ) -> None:
        """Every correctly signed sample verifies into an envelope carrying the raw body."""
        assert webhook_samples, "give at least one webhook sample"
        for sample in webhook_samples:
            env = adapter.verify_webhook(sample.headers, sample.body, webhook_secret)
            assert isinstance(env, WebhookEnvelope)
            assert env.platform == adapter.name
            assert env.delivery_id, "the envelope needs a delivery id for deduplication"
            assert env.raw_body == sample.body
            if sample.topic is not None:
                assert env.topic == sample.topic

    @pytest.mark.parametrize("tamper", ["body", "signature", "missing", "secret", "empty"])
    @needs(Capability.WEBHOOKS)
    def test_webhook_bad_signature_rejected(
        self, adapter: PlatformAdapter, webhook_samples: Sequence[WebhookSample],
        webhook_secret: str, signature_header: str, tamper: str,
    ) -> None:
        """A changed body, forged, missing or empty signature or wrong secret is a 401."""
        sample = webhook_samples[0]
        headers = dict(sample.headers)
        body, secret = sample.body, webhook_secret
        real = header(headers, signature_header)
        assert real is not None, f"sample lacks the {signature_header} header"
        if tamper == "body":
            body = body + b" "
        elif tamper == "signature":
            set_header(headers, signature_header, real[:-4] + ("AAAA" if real[-4:] != "AAAA"
                                                                else "BBBB"))
        elif tamper == "missing":
            del_header(headers, signature_header)
        elif tamper == "secret":
            secret = webhook_secret + "-wrong"
        else:
            set_header(headers, signature_header, "")
        with pytest.raises(WebhookRejected) as info:
            adapter.verify_webhook(headers, body, secret)
        assert info.value.status == 401

    @needs(Capability.WEBHOOKS)
    def test_webhook_parse_returns_canonical_records(
        self, adapter: PlatformAdapter, webhook_samples: Sequence[WebhookSample],
        webhook_secret: str, webhook_shop: ShopConnection,
    ) -> None:
        """Parsing every sample yields canonical records only."""
        for sample in webhook_samples:
            env = adapter.verify_webhook(sample.headers, sample.body, webhook_secret)
            records = parse_delivery(adapter, env, webhook_shop)
            assert isinstance(records, list), "parse_webhook returns a list"
            for record in records:
                check_record(record)
            if sample.expect_records and not env.is_ping:
                assert records, f"topic {env.topic!r} produced no records"

    @needs(Capability.SYNC)
    def test_an_order_through_sync_and_through_a_webhook_is_the_same_record(
        self, adapter: PlatformAdapter, shop: ShopConnection, webhook_secret: str,
        order_webhook: Callable[[str], WebhookSample] | None,
    ) -> None:
        """Every order of the first synced page, delivered as a webhook, maps to the same record.

        The shop's options (currency, status map) must apply to both paths alike.
        """
        if Capability.WEBHOOKS not in adapter.capabilities:
            pytest.skip(f"{adapter.name} does not declare webhooks")
        if order_webhook is None:
            pytest.fail("override `order_webhook` (the adapter declares sync and webhooks)")
        batch = next(iter(adapter.fetch_orders(shop, None, None)))
        orders = [r for r in batch.records if isinstance(r, rec.OrderRecord)]
        assert orders, "the first synced page holds no orders"
        for synced in orders:
            sample = order_webhook(synced.platform_id)
            env = adapter.verify_webhook(sample.headers, sample.body, webhook_secret)
            got = [r for r in parse_delivery(adapter, env, shop)
                   if isinstance(r, rec.OrderRecord)]
            assert len(got) == 1, f"order {synced.platform_id}: the webhook gave {len(got)} orders"
            assert comparable(got[0]) == comparable(synced), (
                f"order {synced.platform_id} differs between sync and webhook")

    # --- sync ---------------------------------------------------------------------------------

    @pytest.mark.parametrize("resource", ["orders", "customers"])
    @needs(Capability.SYNC)
    def test_fetch_yields_canonical_batches(
        self, adapter: PlatformAdapter, shop: ShopConnection, resource: str,
        platform_counts: Mapping[str, int] | None = None,
    ) -> None:
        """A full fetch yields batches of canonical records, each id once, none left out."""
        batches = collect(_fetch(adapter, resource)(shop, None, None))
        keys = [record_key(r) for b in batches for r in b.records]
        assert keys, f"the fake platform returned no {resource}"
        assert len(keys) == len(set(keys)), f"a full {resource} fetch repeated a record"
        if platform_counts is not None and resource in platform_counts:
            assert len(keys) == platform_counts[resource], (
                f"a full {resource} fetch gave {len(keys)} records; the platform holds "
                f"{platform_counts[resource]}")

    @pytest.mark.parametrize("resource", ["orders", "customers"])
    @needs(Capability.SYNC)
    def test_resume_from_every_cursor(
        self, adapter: PlatformAdapter, shop: ShopConnection, resource: str
    ) -> None:
        """Resuming after any batch yields exactly the records that followed it."""
        fetch = _fetch(adapter, resource)
        batches = collect(fetch(shop, None, None))
        assert len(batches) >= 2, (
            f"the fake platform must hold more than one page of {resource} to test resuming"
        )
        for i, batch in enumerate(batches):
            if batch.cursor is None:
                assert i == len(batches) - 1, "only the last batch may have no cursor"
                continue
            expected = [record_key(r) for b in batches[i + 1:] for r in b.records]
            resumed = [record_key(r) for b in collect(fetch(shop, None, batch.cursor))
                       for r in b.records]
            assert resumed == expected, f"resuming after batch {i} repeated or skipped records"

    @needs(Capability.SYNC)
    def test_fetched_records_store_idempotently(
        self, adapter: PlatformAdapter, shop: ShopConnection,
        stammkunde_sessions: sessionmaker[Session],
    ) -> None:
        """Storing everything fetched twice changes nothing the second time."""
        records = [r for res in ("customers", "orders")
                   for b in collect(_fetch(adapter, res)(shop, None, None)) for r in b.records]
        _store_twice(stammkunde_sessions, adapter, records)

    # --- file import --------------------------------------------------------------------------

    @needs(Capability.IMPORT_FILE)
    def test_import_file_yields_canonical_batches(
        self, adapter: PlatformAdapter, sample_file: tuple[Path, str | None],
        stammkunde_sessions: sessionmaker[Session],
    ) -> None:
        """An import yields canonical records that store idempotently."""
        path, fmt = sample_file
        conn = ShopConnection(name="contract", platform=adapter.name)
        batches = collect(adapter.import_file(path, fmt, conn))
        records = [r for b in batches for r in b.records]
        assert records, "the sample file produced no records"
        _store_twice(stammkunde_sessions, adapter, records)

    # --- discounts and tags -------------------------------------------------------------------

    @needs(Capability.DISCOUNTS)
    def test_push_discounts_is_idempotent_by_code(
        self, adapter: PlatformAdapter, shop: ShopConnection, discount_offer: DiscountOffer,
        discount_targets: Sequence[DiscountTarget],
        count_discounts: Callable[[], int] | None,
    ) -> None:
        """The first push creates one code per target; the second reports them as existing."""
        assert discount_targets, "give at least one discount target"
        first = list(adapter.push_discounts(shop, discount_offer, discount_targets))
        assert [(r.customer_id, r.code) for r in first] == [
            (t.customer_id, t.code) for t in discount_targets]
        assert {r.status for r in first} == {"created"}, [r.reason for r in first]
        before = count_discounts() if count_discounts else None
        second = list(adapter.push_discounts(shop, discount_offer, discount_targets))
        assert [r.status for r in second] == ["exists"] * len(discount_targets)
        if count_discounts is not None:
            assert count_discounts() == before, "the second push created codes"

    @needs(Capability.TAGS)
    def test_tag_customers_adds_and_removes(
        self, adapter: PlatformAdapter, shop: ShopConnection, tag_customer_ids: list[str]
    ) -> None:
        """Tagging reports "ok" per customer, both ways."""
        added = adapter.tag_customers(shop, "stammkunde-contract", tag_customer_ids)
        assert added == dict.fromkeys(tag_customer_ids, "ok")
        removed = adapter.tag_customers(shop, "stammkunde-contract", tag_customer_ids,
                                        remove=True)
        assert removed == dict.fromkeys(tag_customer_ids, "ok")

    @needs(Capability.CUSTOMER_FIELDS)
    def test_set_customer_fields_reports_ok_and_repeats_harmlessly(
        self, adapter: PlatformAdapter, shop: ShopConnection, tag_customer_ids: list[str]
    ) -> None:
        """Writing fields reports "ok" per customer, and writing them again does too."""
        values = {c: {"offer_code": f"SK-{i}", "offer_text": "10 % off"}
                  for i, c in enumerate(tag_customer_ids)}
        assert adapter.set_customer_fields(shop, "stammkunde", values) == dict.fromkeys(
            tag_customer_ids, "ok")
        assert adapter.set_customer_fields(shop, "stammkunde", values) == dict.fromkeys(
            tag_customer_ids, "ok")

    # --- install ------------------------------------------------------------------------------

    @needs(Capability.INSTALL)
    def test_install_query_signature(
        self, adapter: PlatformAdapter, install_query: tuple[Mapping[str, str], str]
    ) -> None:
        """A signed install callback verifies; a tampered one is refused."""
        from stammkunde.plugins.adapter import InstallRejected

        query, secret = install_query
        assert adapter.verify_install_query(query, secret)
        forged = {**query, "shop": "attacker-" + str(query.get("shop", "x"))}
        with pytest.raises(InstallRejected):
            adapter.verify_install_query(forged, secret)
        with pytest.raises(InstallRejected):
            adapter.verify_install_query(query, secret + "-wrong")


class ChannelContract:
    """Base class of a delivery channel's contract tests: override the fixtures, inherit tests.

    Required: ``channel`` (your Channel instance), ``send_job`` (a SendJob pointing at your fake
    service) and ``messages`` (at least two OfferMessages with distinct keys). Optional:
    ``received`` (a function returning the keys your fake service received, in order), which
    proves that every message arrives once.
    """

    @pytest.fixture
    def channel(self) -> Any:
        """Your Channel instance."""
        pytest.fail("override the `channel` fixture with your Channel instance")

    @pytest.fixture
    def send_job(self) -> Any:
        """A SendJob whose shop, home and env point at your fake service."""
        pytest.fail("override the `send_job` fixture with a SendJob for your fake service")

    @pytest.fixture
    def messages(self) -> Sequence[Any]:
        """At least two OfferMessages to deliver."""
        pytest.fail("override the `messages` fixture with OfferMessages")

    @pytest.fixture
    def received(self) -> Callable[[], list[int]] | None:
        """Optional: the message keys your fake service received."""
        return None

    def test_channel_is_valid(self, channel: Any) -> None:
        """A Channel instance with a name and a positive batch size."""
        from stammkunde.plugins.channels import validate_channel

        validate_channel(channel, "contract")

    def test_one_result_per_message_batch_by_batch(
        self, channel: Any, send_job: Any, messages: Sequence[Any],
        received: Callable[[], list[int]] | None,
    ) -> None:
        """Each message gets one result, in order, before the channel takes the next batch."""
        assert len(messages) >= 2, "give at least two messages"
        channel.check(send_job)
        size = int(channel.batch_size)
        batches = [list(messages[i:i + size]) for i in range(0, len(messages), size)]
        taken: list[int] = []

        def lazy() -> Iterator[list[Any]]:
            for n, batch in enumerate(batches):
                taken.append(n)
                yield batch

        results: list[Any] = []
        for item in channel.send(send_job, lazy()):
            results.append(item)
            done = len(results)
            # a batch is only taken once every earlier message has its result
            assert sum(len(b) for b in batches[:len(taken) - 1]) <= done
        assert [r.key for r in results] == [m.key for m in messages]
        assert {r.status for r in results} <= {"sent", "failed"}
        assert all(r.reason for r in results if r.status == "failed")
        if received is not None:
            sent = [r.key for r in results if r.status == "sent"]
            assert sorted(received()) == sorted(sent), "each sent message arrives exactly once"

    def test_an_empty_run_sends_nothing(self, channel: Any, send_job: Any,
                                        received: Callable[[], list[int]] | None) -> None:
        """No batches: no results and nothing delivered."""
        assert list(channel.send(send_job, iter(()))) == []
        if received is not None:
            assert received() == []


def _fetch(adapter: PlatformAdapter, resource: str) -> Callable[..., Iterator[Batch]]:
    return adapter.fetch_orders if resource == "orders" else adapter.fetch_customers


def _first_customer_ids(adapter: PlatformAdapter, shop: ShopConnection, n: int) -> list[str]:
    if Capability.SYNC not in adapter.capabilities:
        pytest.fail("override `discount_targets` / `tag_customer_ids` (the adapter cannot sync)")
    ids: list[str] = []
    for batch in adapter.fetch_customers(shop, None, None):
        ids.extend(r.platform_id for r in batch.records if isinstance(r, rec.CustomerRecord))
        if len(ids) >= n:
            break
    return ids[:n]


def _store_twice(sessions: sessionmaker[Session], adapter: PlatformAdapter,
                 records: list[Record]) -> None:
    with sessions() as session, session.begin():
        shop = create_shop(session, "contract", adapter.name)
        store_records(session, shop, records)
    with sessions() as session, session.begin():
        from stammkunde.core.store import get_shop

        again = store_records(session, get_shop(session, "contract"), records)
    assert (again.inserted, again.updated) == (0, 0), f"storing twice changed data: {again}"


__all__ = ["AdapterContract", "ChannelContract", "WebhookSample", "check_record", "collect",
           "record_key", "stammkunde_sessions", "stammkunde_shop", "temporary_sessions"]


def comparable(order: rec.OrderRecord) -> dict[str, Any]:
    """What a sync and a webhook must agree on for one order.

    Refunds are compared by their sum (a webhook may not know each refund's exact date), line
    items only when the sync carries fewer than ten (a page carries the first ten).
    """
    out = {k: getattr(order, k) for k in (
        "platform_id", "created_at", "updated_at", "total", "currency", "status",
        "cancelled_at", "is_test", "customer_id", "email", "discount_codes", "channel")}
    out["refunded"] = sum((r.amount for r in order.refunds), Decimal(0))
    if len(order.line_items) < 10:
        out["line_items"] = order.line_items
    return out

