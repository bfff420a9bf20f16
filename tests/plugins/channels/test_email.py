"""The e-mail channel against a real SMTP server (aiosmtpd on 127.0.0.1, an ephemeral port)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from stammkunde.core.errors import UserError
from stammkunde.core.offer_models import Delivery, MarketingOptOut
from stammkunde.plugins.delivery import send_campaign
from stammkunde.plugins.email.channel import EmailChannel
from stammkunde.plugins.manager import PluginError, plugins_for_test
from tests.plugins.channels.kit import CONSENTING, make_shop, pushed_campaign

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key"


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"

    def to(self) -> list[str]:
        return sorted(r for _f, rcpts in self.envelopes for r in rcpts)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def write_config(home: Path, port: int, **extra: object) -> None:
    home.mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {"host": "127.0.0.1", "port": port, "security": "none",
                                 "sender": "Laden <hallo@laden.example>",
                                 "public_url": "https://stammkunde.laden.example",
                                 "rate_per_minute": 100000, **extra}
    lines = ["[email]"] + [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                           for k, v in values.items()]
    (home / "stammkunde.toml").write_text("\n".join(lines) + "\n")


@pytest.fixture
def setup(sessions, tmp_path, smtp):  # type: ignore[no-untyped-def]
    inbox, port = smtp
    make_shop(sessions)
    home = tmp_path / "home"
    write_config(home, port)
    with plugins_for_test() as plugins:
        cid = pushed_campaign(sessions, plugins, now=NOW)
        yield plugins, cid, home, inbox


def send(sessions, plugins, cid, home, **kw):  # type: ignore[no-untyped-def]
    return send_campaign(sessions, plugins, cid, "email", secret_key=SECRET, home=home,
                         now=NOW, env={}, **kw)


def test_each_consenting_member_gets_one_message_with_their_code(sessions, setup) -> None:
    plugins, cid, home, inbox = setup
    result = send(sessions, plugins, cid, home)
    # Carla declined marketing, so she is not even targeted; Emil never answered: skipped
    assert (result.sent, result.skipped, result.failed) == (3, 1, 0)
    assert result.reasons == {"no marketing consent": 1}
    assert inbox.to() == sorted(CONSENTING)
    with sessions() as s:
        codes = dict(s.execute(select(Delivery.assignment_id, Delivery.status)).all())
        from stammkunde.core.models import Assignment, Customer

        code_of = {e: c for e, c in s.execute(
            select(Customer.email, Assignment.code)
            .join(Assignment, Assignment.customer_id == Customer.id))}
    assert sorted(codes.values()) == ["sent", "sent", "sent", "skipped"]
    by_to = {m["To"].addresses[0].addr_spec: m for m in inbox.messages}
    anna, bob, dora = (by_to[a] for a in ("anna@kunde.example", "bob@customer.example",
                                          "dora@kunde.example"))
    # German for Anna (her locale), English for Bob (en-GB), the shop's German for Dora (none)
    assert anna["Subject"] == "Ihr persönlicher Gutschein bei Laden: 15 % Rabatt"
    assert bob["Subject"] == "Your personal code for Laden: 15% off"
    assert dora["Subject"] == "Ihr persönlicher Gutschein bei Laden: 15 % Rabatt"
    assert anna["From"] == "Laden <hallo@laden.example>"
    assert str(anna["To"]) == "Anna <anna@kunde.example>"
    assert anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert anna["List-Unsubscribe"].startswith("<https://stammkunde.laden.example/unsubscribe/")
    assert anna["Content-Language"] == "de"
    for addr, msg in by_to.items():
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        html = msg.get_body(("html",)).get_content()
        code = code_of[addr]
        assert f"    {code}\n" in text and f">{code}</p>" in html
        others = set(code_of.values()) - {code}
        assert not any(o in text or o in html for o in others)
        link = msg["List-Unsubscribe"][1:-1]
        assert link in text and f'href="{link}"' in html
    anna_text = anna.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert anna_text.startswith("Hallo Anna,\n\nMit Ihrem persönlichen Gutscheincode erhalten "
                                "Sie 15 % Rabatt auf Ihre nächste Bestellung bei Laden:")
    assert "Der Code gilt bis einschließlich 15. März 2025 und nur einmal." in anna_text
    bob_text = bob.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "The code is valid until 15 March 2025 inclusive, once." in bob_text
    assert dora.get_body(("plain",)).get_content().replace("\r\n", "\n").startswith("Guten Tag,\n")


def test_re_running_sends_nothing_twice(sessions, setup) -> None:
    plugins, cid, home, inbox = setup
    send(sessions, plugins, cid, home)
    again = send(sessions, plugins, cid, home)
    assert (again.sent, again.skipped, again.failed) == (0, 0, 0)
    assert again.totals == {"sent": 3, "skipped": 1}
    assert len(inbox.messages) == 3


def test_a_crash_after_the_server_took_a_message_never_sends_it_again(
        sessions, setup, monkeypatch) -> None:
    plugins, cid, home, inbox = setup
    real = EmailChannel._send_one
    calls = Counter[str]()

    def crash_after_second(self, smtp, job, settings, m):  # type: ignore[no-untyped-def]
        result = real(self, smtp, job, settings, m)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")  # delivered, but the result is never stored
        return result

    monkeypatch.setattr(EmailChannel, "_send_one", crash_after_second)
    with pytest.raises(PluginError, match="power cut"):
        send(sessions, plugins, cid, home)
    assert len(inbox.messages) == 2
    monkeypatch.setattr(EmailChannel, "_send_one", real)
    resumed = send(sessions, plugins, cid, home)
    assert (resumed.sent, resumed.interrupted) == (1, 1)
    assert resumed.totals == {"sent": 2, "skipped": 1, "unknown": 1}
    assert sorted(Counter(inbox.to()).values()) == [1, 1, 1]
    assert inbox.to() == sorted(CONSENTING)


def test_limit_stops_and_the_next_run_continues(sessions, setup) -> None:
    plugins, cid, home, inbox = setup
    first = send(sessions, plugins, cid, home, limit=1)
    assert first.stopped and first.sent == 1
    rest = send(sessions, plugins, cid, home)
    assert rest.sent == 2 and not rest.stopped
    assert inbox.to() == sorted(CONSENTING)


def test_rate_limit_spaces_the_messages(sessions, setup, tmp_path) -> None:
    plugins, cid, home, _inbox = setup
    write_config(home, int(_port_of(home)), rate_per_minute=30)  # one message per 2 seconds
    sleeps: list[float] = []
    channel = plugins.channel("email")
    monkey_clock = iter([0.0, 0.0, 2.0, 2.0, 4.0, 4.0])
    channel.clock, channel.sleep = (lambda: next(monkey_clock)), sleeps.append
    try:
        assert send(sessions, plugins, cid, home).sent == 3
    finally:
        import time

        channel.clock, channel.sleep = time.monotonic, time.sleep
    assert sleeps == [2.0, 2.0]


def _port_of(home: Path) -> str:
    text = (home / "stammkunde.toml").read_text()
    return next(line.split("=")[1].strip() for line in text.splitlines()
                if line.startswith("port"))


def test_unsubscribe_link_end_to_end(sessions, setup, database_url, tmp_path) -> None:
    plugins, cid, home, inbox = setup
    send(sessions, plugins, cid, home)
    anna = next(m for m in inbox.messages if "anna@" in str(m["To"]))
    path = anna["List-Unsubscribe"][1:-1].removeprefix("https://stammkunde.laden.example")
    from stammkunde.app.web import create_app
    from stammkunde.core.config import Settings

    app = create_app({"TESTING": True}, Settings(home=home, database_url=database_url,
                                                 secret_key=SECRET))
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"  # the token stays on this site
    assert "Möchten Sie keine Angebote mehr von laden erhalten?" in page.get_data(as_text=True)
    assert count_optouts(sessions) == 0  # a GET (a mail scanner following links) changes nothing
    forged = client.post(path[:-3] + ("abc" if not path.endswith("abc") else "xyz"))
    assert forged.status_code == 404 and count_optouts(sessions) == 0
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "Sie erhalten keine Angebote mehr von laden." in done.get_data(as_text=True)
    assert count_optouts(sessions) == 1
    assert client.post(path).status_code == 200 and count_optouts(sessions) == 1
    with sessions() as s:
        assert s.scalar(select(MarketingOptOut.source)) == "one-click"
    # every later campaign skips Anna: she is not targeted at all
    later = pushed_campaign(sessions, plugins, now=NOW + timedelta(days=1), name="summer")
    inbox.messages.clear()
    inbox.envelopes.clear()
    result = send_campaign(sessions, plugins, later, "email", secret_key=SECRET, home=home,
                           now=NOW + timedelta(days=1), env={})
    assert result.sent == 2
    assert inbox.to() == ["bob@customer.example", "dora@kunde.example"]


def count_optouts(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(MarketingOptOut)) or 0)


def test_an_opt_out_mid_campaign_is_respected_by_the_rest_of_the_run(sessions, setup) -> None:
    plugins, cid, home, inbox = setup
    assert send(sessions, plugins, cid, home, limit=1).sent == 1  # Anna (first row)
    from stammkunde.core.models import Customer
    from stammkunde.core.optouts import record_optout

    with sessions() as s, s.begin():
        bob = s.scalar(select(Customer).where(Customer.platform_id == "c2"))
        assert record_optout(s, bob.shop_id, bob.person_id, cid, "link")
    rest = send(sessions, plugins, cid, home)
    assert rest.reasons == {"opted out": 1, "no marketing consent": 1}
    assert inbox.to() == ["anna@kunde.example", "dora@kunde.example"]


@pytest.mark.parametrize("problem, message", [
    ("no-table", "no [email] table in"),
    ("not-pushed", "has not been pushed yet"),
    ("unknown-channel", "unknown channel 'fax' (installed: email, shop)"),
    ("no-password", "email.username is set in stammkunde.toml but STAMMKUNDE_SMTP_PASSWORD "
                    "is not"),
])
def test_mistakes_are_one_line_and_send_nothing(sessions, tmp_path, smtp, problem,
                                                 message) -> None:
    inbox, port = smtp
    make_shop(sessions)
    home = tmp_path / "home"
    if problem != "no-table":
        write_config(home, port, **({"username": "laden"} if problem == "no-password" else {}))
    with plugins_for_test() as plugins:
        if problem == "not-pushed":
            from decimal import Decimal

            from stammkunde.core.campaigns import CampaignSpec
            from stammkunde.core.store import get_shop
            from stammkunde.plugins.campaigns import create_shop_campaign

            with sessions() as s, s.begin():
                cid = create_shop_campaign(s, plugins, get_shop(s, "laden"), CampaignSpec(
                    name="x", target="all", percent=Decimal(5)), NOW).id
        else:
            cid = pushed_campaign(sessions, plugins, now=NOW)
        with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")
                           .replace(")", r"\)")):
            send_campaign(sessions, plugins, cid, "fax" if problem == "unknown-channel"
                          else "email", secret_key=SECRET, home=home, now=NOW, env={})
    assert inbox.messages == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
