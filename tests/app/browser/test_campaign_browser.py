"""The campaign flow in a real browser on the demo shop (simulated platform): create with the
live target count, confirm the push, send through the shop channel, read the effect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.campaigns import resolve_target
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import now
from stammkunde.plugins.manager import get_plugins
from tests.app.browser.test_dashboard_browser import sign_in


def test_create_push_send_in_the_browser(page: Any, server: str,
                                        sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        expected = len(resolve_target(s, get_shop(s, "demo"), "lapsed:120", now(),
                                      get_plugins().target_kinds()))
    sign_in(page, server)
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Spring")
    page.get_by_label("Target", exact=True).select_option("lapsed")
    page.get_by_label("Target detail").fill("120")
    # the live count follows the target (it first showed the default lapsed:90)
    page.wait_for_function(
        "n => document.getElementById('target-count').dataset.count === n", arg=str(expected))
    assert page.locator("#target-count").inner_text() == \
        f"Customers targeted right now: {expected:,}"
    page.get_by_label("Discount", exact=True).fill("150")
    page.get_by_role("button", name="Create draft").click()
    # the mistake is announced next to its field and the field points at it
    value = page.get_by_label("Discount", exact=True)
    assert value.get_attribute("aria-invalid") == "true"
    assert page.locator("#e-value").inner_text() == "A percentage is at most 100."
    value.fill("15")
    page.get_by_role("button", name="Create draft").click()
    assert page.locator(".flash").inner_text().startswith("Campaign created")
    treatment = int(page.locator("#plan-treatment").inner_text().replace(",", ""))
    holdout = int(page.locator("#plan-holdout").inner_text().replace(",", ""))
    assert treatment + holdout == expected
    page.get_by_role("link", name="Push codes to the shop…").click()
    page.get_by_role("button", name="Yes, push the codes").click()
    assert page.locator(".job.done .jobkind").first.inner_text() == "Code push"
    page.go_back()
    page.go_back()
    page.reload()
    assert page.locator("#campaign-status").inner_text() == "pushed"
    page.get_by_label("Channel").select_option("shop")
    page.get_by_role("button", name="Send offers").click()
    assert page.locator(".job.done .jobkind").first.inner_text() == "Sending offers"
    page.go_back()
    page.reload()
    row = page.locator("#deliveries tbody tr").first
    assert row.locator("th").inner_text() == "shop"
    assert row.locator("td").first.inner_text().replace(",", "") == str(treatment)
    assert "95 % interval: from" in page.locator("#effect-uplift").inner_text()
    assert page.locator("#window-open").is_visible()  # just pushed: the window is open
    assert page.console_errors == []
