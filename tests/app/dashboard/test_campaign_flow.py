"""The campaign flow in the dashboard on the simulated platform: create (live count, errors),
confirm the push, a partial push shown as such and retried, send, and the measured effect."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select, update

from stammkunde.core.demo_respond import respond
from stammkunde.core.models import Assignment, Campaign
from stammkunde.core.offer_models import SimulatedCustomerField
from stammkunde.plugins.manager import plugins_for_test
from tests.app.dashboard.conftest import csrf_token, login
from tests.plugins.channels.kit import make_shop

FORM = {"name": "Spring", "target_kind": "all", "target_arg": "", "offer_kind": "percentage",
        "value": "15", "min_order": "", "starts": "", "ends": "", "holdout": "20",
        "code_type": "unique", "shared_code": ""}


def labelled(html: str) -> None:
    """Every input and select of the page's form has a label, and its help/errors described."""
    form = html[html.index("<form method=\"post\" class=\"card form\""):]
    ids = re.findall(r'<(?:input|select) id="([^"]+)"', form)
    assert ids, "no fields"
    for i in ids:
        assert f'<label for="{i}">' in form, f"field {i} has no label"


def test_create_push_partial_retry_send_effect(app: Flask, sessions) -> None:  # type: ignore[no-untyped-def]
    make_shop(sessions)
    with plugins_for_test():
        c = app.test_client()
        login(c, "laden")
        assert 'href="/shops/laden/campaigns/new"' in c.get("/shops/laden/campaigns").get_data(
            as_text=True)
        page = c.get("/shops/laden/campaigns/new").get_data(as_text=True)
        labelled(page)
        assert c.get("/shops/laden/campaigns/target-count?kind=all&arg=").get_json() == {
            "count": 4, "error": None}  # Carla declined marketing
        bad = c.get("/shops/laden/campaigns/target-count?kind=lapsed&arg=x").get_json()
        assert bad["count"] is None and "whole number" in bad["error"]

        token = csrf_token(c, "/shops/laden/campaigns/new")
        for mistake, names in (({"name": ""}, ("name",)),
                               ({"value": "150", "code_type": "shared"},
                                ("value", "shared_code"))):
            wrong = c.post("/shops/laden/campaigns/new",
                           data={**FORM, "csrf_token": token, **mistake})
            assert wrong.status_code == 400
            html = wrong.get_data(as_text=True)
            for name in names:
                assert f'aria-describedby="h-{name} e-{name}" aria-invalid="true"' in html
                assert f'<div class="error" id="e-{name}">' in html
        # the shop's language is German
        assert "Ein Prozentsatz ist höchstens 100." in html

        created = c.post("/shops/laden/campaigns/new", data={**FORM, "csrf_token": token})
        assert created.status_code == 302
        cid = int(created.headers["Location"].rsplit("/", 1)[1])
        plan = c.get(f"/shops/laden/campaigns/{cid}").get_data(as_text=True)
        assert "ein eigener Code pro Kunde" in plan and "unbefristet" in plan
        assert f'href="/shops/laden/campaigns/{cid}/push"' in plan  # to the confirmation

        confirm = c.get(f"/shops/laden/campaigns/{cid}/push").get_data(as_text=True)
        treated = int(re.search(r'id="confirm-treatment">(\d+)<', confirm).group(1))  # type: ignore[union-attr]
        assert c.post(f"/shops/laden/campaigns/{cid}/push",
                      data={"csrf_token": token}).status_code == 302
        # one code failed in the shop, as a push records it: the campaign shows as partly
        # pushed, never as done
        with sessions() as s, s.begin():
            first = s.scalar(select(Assignment.id).where(
                Assignment.campaign_id == cid, Assignment.arm == "treatment")
                .order_by(Assignment.id).limit(1))
            s.execute(update(Assignment).where(Assignment.id == first).values(
                push_status="failed", push_reason="Rate limited"))
            s.execute(update(Campaign).where(Campaign.id == cid).values(status="partial"))
        partial = c.get(f"/shops/laden/campaigns/{cid}").get_data(as_text=True)
        assert 'id="campaign-status">teilweise angelegt<' in partial
        assert 'id="push-failed">1<' in partial and "Rate limited" in partial
        assert "teilweise angelegt" in c.get("/shops/laden/campaigns").get_data(as_text=True)
        assert c.post(f"/shops/laden/campaigns/{cid}/retry",
                      data={"csrf_token": token}).status_code == 302
        healed = c.get(f"/shops/laden/campaigns/{cid}").get_data(as_text=True)
        assert 'id="campaign-status">angelegt<' in healed and 'id="push-failed">0<' in healed

        # sending through the shop channel; e-mail without an [email] table is refused
        refused = c.post(f"/shops/laden/campaigns/{cid}/send",
                         data={"csrf_token": token, "channel": "email"}, follow_redirects=True)
        assert "no [email] table" in refused.get_data(as_text=True)
        assert c.post(f"/shops/laden/campaigns/{cid}/send",
                      data={"csrf_token": token, "channel": "shop"}).status_code == 302
        with sessions() as s:
            written = {f.customer_platform_id for f in s.scalars(select(SimulatedCustomerField))}
        assert len(written) == treated
        sent = c.get(f"/shops/laden/campaigns/{cid}").get_data(as_text=True)
        assert re.search(rf"<th scope=\"row\">shop</th><td class=\"num\">{treated}</td>", sent)

        truth = respond(sessions, cid, now=datetime.now(UTC))
        effect = c.get(f"/shops/laden/campaigns/{cid}").get_data(as_text=True)
    assert truth["campaign"] == cid
    section = effect[effect.index('id="effect"'):]
    for label in ("Mehr Käufer (Konversion)", "Zusätzlicher Umsatz", "Rabattkosten",
                  "Netto (zusätzlicher Umsatz − Rabattkosten)"):
        assert label in section
    assert "95-%-Intervall: von" in section
    assert 'id="window-open"' not in section  # respond completed the window
    assert 'id="small-holdout"' in section  # 4 members: the caveat the CLI prints
