"""Every page at a laptop's 1366x900 and a phone's 390x844, in German and English: tables fit,
nothing scrolls sideways, axe-core finds no serious or critical WCAG 2 A/AA violation, and no
English is left in the German pages."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.dashboard.auth import make_login_token
from stammkunde.core.job_models import Job, JobState
from stammkunde.core.store import get_shop
from tests.app.browser.conftest import SECRET

AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
CATALOG = Path(__file__).resolve().parents[3] / "app" / "translations" / "de" / "LC_MESSAGES"
PAGES = ("/shops/demo/", "/shops/demo/segments", "/shops/demo/customers",
         "/shops/demo/customers?segment=champions", "/shops/demo/win-back",
         "/shops/demo/campaigns", "/shops/demo/campaigns/{cid}", "/shops/demo/jobs",
         "/shops/demo/settings", "/shops/demo/campaigns/999999")

# Visible texts (and accessible names) of the page, leaving out what is marked as not to be
# translated (shop data: e-mails, ids, campaign names) or as another language.
TEXTS_JS = """() => {
  const out = [];
  const skip = (el) => !el || el.closest('script,style,[translate="no"],[lang]:not([lang="de"])')
                       || (el.checkVisibility && !el.checkVisibility());
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (text && !skip(node.parentElement)) { out.push(text); }
  }
  for (const el of document.querySelectorAll('[aria-label],[title],[placeholder]')) {
    if (skip(el)) { continue; }
    for (const a of ['aria-label', 'title', 'placeholder']) {
      const v = el.getAttribute(a);
      if (v) { out.push(v.replace(/\\s+/g, ' ').trim()); }
    }
  }
  return out;
}"""

# Words that are English and never German: any of them in a German page is a missed translation.
ENGLISH = {"the", "and", "with", "customer", "customers", "orders", "must", "valid", "number",
           "failed", "queued", "running", "done", "draft", "pushed", "scheduled", "member",
           "jobs", "days", "previous", "next", "page", "show", "field", "required", "error",
           "errors", "sign", "overview", "settings", "search", "download", "not", "of", "to",
           "is", "this", "your", "first", "last", "revenue", "share", "stage", "tier"}


def _english_patterns() -> list[re.Pattern[str]]:
    """Each English message of the catalog whose German differs, as a pattern for a text."""
    with (CATALOG / "messages.po").open("rb") as f:
        catalog = read_po(f)
    patterns = []
    for m in catalog:
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        for msgid in ids:
            if not msgid or msgid in strings or len(msgid) < 4:
                continue
            body = re.escape(msgid.replace("%%", "%"))
            body = re.sub(r"%\\\(\w+\\\)s", ".+?", body)
            patterns.append(re.compile(rf"^{body}$"))
    return patterns


def english_left(texts: list[str], patterns: list[re.Pattern[str]]) -> list[str]:
    """Return the texts that are an untranslated catalog message or contain English words."""
    bad = []
    for text in texts:
        words = set(re.findall(r"[a-z]+", text))
        if any(p.match(text) for p in patterns) or (words & ENGLISH and text == text.lower()) \
                or words & ENGLISH - {"of", "to", "is", "not"} or re.search(r"\d pp\b", text):
            bad.append(text)
    return bad


def table_overflow(page: Any) -> list[str]:
    """Return the tables wider than their container or reaching past the window's right edge."""
    return page.evaluate("""() => {
      const out = [];
      for (const t of document.querySelectorAll('table')) {
        const box = t.parentElement;
        const right = t.getBoundingClientRect().right;
        if (box.scrollWidth > box.clientWidth + 1 || right > window.innerWidth + 0.5) {
          out.push((t.className || 'table') + ': ' + box.scrollWidth + ' > ' + box.clientWidth);
        }
      }
      return out;
    }""")


@pytest.fixture
def campaign_id(server: str, sessions: sessionmaker[Session]) -> int:
    """A draft campaign and a failed and a running job in the demo shop."""
    from stammkunde.core.campaigns import CampaignSpec, create_campaign

    with sessions() as s, s.begin():
        shop = get_shop(s, "demo")
        c = create_campaign(s, shop, CampaignSpec(name="Herbst", target="all",
                                                  percent=Decimal(10), holdout=0.25))
        s.add(Job(id="failed1", kind="sync", shop_id=shop.id, state=JobState.FAILED,
                  message="ConnectionError: [Errno 111] Connection refused", errors=1))
        s.add(Job(id="done1", kind="push", shop_id=shop.id, state=JobState.DONE, done=3,
                  total=3, message="2 codes still pending: push again to resume"))
        return int(c.id)


def _visit(page: Any, server: str, path: str, lang: str) -> None:
    page.goto(f"{server}/lang/{lang}?next={path}")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_page_fits_a_laptop_is_accessible_and_in_one_language(
        browser: Any, server: str, campaign_id: int, lang: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(locale="de-DE" if lang == "de" else "en-GB", viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    axe = Axe()
    patterns = _english_patterns() if lang == "de" else []
    problems: dict[str, Any] = {}
    try:
        page.goto(f"{server}/lang/{lang}")
        paths = [*PAGES, "/"]
        # The sign-in page (signed out) and a settings form with errors come last.
        page.goto(f"{server}/login?token={make_login_token(SECRET, 'demo')}")
        for path in paths:
            if path == "/":
                page.context.clear_cookies()
                page.goto(f"{server}/lang/{lang}")
                page.goto(f"{server}/")
            else:
                _visit(page, server, path.format(cid=campaign_id), lang)
            assert page.locator("html").get_attribute("lang") == lang
            t0 = time.perf_counter()
            found = {"tables": table_overflow(page)}
            # Long lists: the first rows stand for the rest (axe's contrast rule is slow).
            results = axe.run(page, context={"exclude": [["table.list tbody tr:nth-child(n+6)"]]},
                              options=AXE_OPTIONS)
            found["axe"] = [f"{v['id']}: {n['target']} {n['failureSummary'][:160]}"
                            for v in results.response["violations"]
                            if v["impact"] in ("serious", "critical") for n in v["nodes"][:3]]
            if lang == "de":
                found["english"] = english_left(page.evaluate(TEXTS_JS), patterns)
            problems.update({f"{path} {k}": v for k, v in found.items() if v})
            print(path, round(time.perf_counter() - t0, 2))
            if path == "/shops/demo/settings":
                page.fill("#f-margin", "2")
                page.fill("#f-points_review", "x")
                page.fill("#f-tiers", "gold")
                page.locator("form.form button[type=submit]").click()
                assert page.locator(".field.invalid").count() == 3
                errors = page.locator(".field .error").all_inner_texts()
                described = page.locator("#f-margin").get_attribute("aria-describedby")
                assert described == "f-margin-help source-margin f-margin-error"
                results = axe.run(page, options=AXE_OPTIONS)
                serious = [v["id"] for v in results.response["violations"]
                           if v["impact"] in ("serious", "critical")]
                if serious:
                    problems["settings errors axe"] = serious
                if lang == "de":
                    bad = english_left(errors, patterns)
                    if bad:
                        problems["settings errors english"] = bad
                    assert errors[0] == "Muss zwischen 0 und 1 liegen."
                page.fill("#f-margin", "0,5" if lang == "de" else "0.5")
                page.fill("#f-points_review", "25")
                page.fill("#f-tiers", "member: 0, loyal: 100")
                page.locator("form.form button[type=submit]").click()
                assert page.input_value("#f-margin") == ("0,5" if lang == "de" else "0.5")
    finally:
        context.close()
    for key, value in problems.items():
        print("PROBLEM", key, value)
    assert problems == {}


@pytest.mark.parametrize("lang", ["de", "en"])
def test_no_page_scrolls_sideways_on_a_phone(browser: Any, server: str, campaign_id: int,
                                             lang: str) -> None:
    context = browser.new_context(locale="de-DE" if lang == "de" else "en-GB", viewport=PHONE,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    wide = {}
    try:
        page.goto(f"{server}/login?token={make_login_token(SECRET, 'demo')}")
        for path in PAGES:
            _visit(page, server, path.format(cid=campaign_id), lang)
            width = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
            if width[0] > width[1]:
                wide[path] = width
        page.context.clear_cookies()
        page.goto(f"{server}/lang/{lang}")
        page.goto(f"{server}/")
        width = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        if width[0] > width[1]:
            wide["/"] = width
    finally:
        context.close()
    assert wide == {}


def test_jobs_show_state_time_and_readable_failures(page: Any, server: str,
                                                    campaign_id: int,
                                                    sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        shop_id = get_shop(s, "demo").id
        s.add(Job(id="live2", kind="sync", shop_id=shop_id, state=JobState.RUNNING,
                  step="orders", done=1250, total=None))
    requests: list[str] = []
    page.on("request", lambda r: "jobs.json" in r.url and requests.append(r.url))
    page.goto(f"{server}/login?token={make_login_token(SECRET, 'demo')}")
    page.goto(f"{server}/shops/demo/jobs")
    live = page.locator('li.job[data-id="live2"]')
    # Unknown total: an indeterminate bar (no value) and the count so far.
    assert live.locator("progress").get_attribute("value") is None
    assert "1,250 so far" in live.locator(".jobmeta").nth(1).inner_text()
    failed = page.locator('li.job[data-id="failed1"]')
    assert failed.locator(".jobmessage").inner_text().startswith("Stopped by an unexpected error")
    assert "ConnectionError" not in failed.inner_text()
    assert "2 codes are still pending" in page.locator('li.job[data-id="done1"]').inner_text()
    when = live.locator("time").inner_text()
    page.wait_for_timeout(2600)  # one poll: the list is redrawn from jobs.json
    assert requests
    assert live.locator("time").inner_text() == when != ""
    with sessions() as s, s.begin():
        job = s.get(Job, "live2")
        job.state, job.total, job.done = JobState.DONE, 1300, 1300
    page.wait_for_selector('li.job.done[data-id="live2"]', timeout=8000)
    assert page.locator('li.job[data-id="live2"] progress').evaluate("e => e.value") == 1
    seen = len(requests)
    page.wait_for_timeout(4500)  # nothing runs any more: no polling
    assert len(requests) == seen
    # A page opened while nothing runs does not poll at all.
    page.goto(f"{server}/shops/demo/")
    before = len(requests)
    page.wait_for_timeout(2500)
    assert len(requests) == before


def test_heatmap_and_chart_read_well(page: Any, server: str) -> None:
    page.goto(f"{server}/login?token={make_login_token(SECRET, 'demo')}")
    # Every channel label is inside the chart's drawing (none cut at the left edge).
    boxes = page.evaluate("""() => [...document.querySelectorAll('svg.chart .chart-label')]
        .map(t => { const b = t.getBBox(); return [b.x, b.x + b.width]; })""")
    assert boxes and all(x >= 0 for x, _ in boxes)
    assert page.locator("#heat-legend .swatch").count() == 11
    assert "of a cohort ordering again" in page.locator("#heat-legend").inner_text()
    tiles = page.locator("#kpi-historic_clv .tile-label").inner_text()
    assert "past revenue" in tiles
    assert "future margin" in page.locator("#kpi-predicted_clv .tile-label").inner_text()


def test_prospects_are_explained_not_linked_to_an_empty_list(page: Any, server: str) -> None:
    page.goto(f"{server}/login?token={make_login_token(SECRET, 'demo')}")
    page.goto(f"{server}/shops/demo/segments")
    for link in page.locator("section.card tbody td a").all():
        href = link.get_attribute("href")
        response = page.request.get(server + href)
        count = len(re.findall(r'<td class="who"', response.text()))
        assert count > 0, href
