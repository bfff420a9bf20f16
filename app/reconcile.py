"""Healing what webhooks drop: scheduled incremental syncs and an hourly webhook health check.

Webhooks are lost: WooCommerce never retries a failed delivery and disables a webhook after more
than five consecutive failures; Shopify retries for four hours and then deletes the
subscription. Two jobs heal that (docs/webhooks.md says what each platform retries):

- **reconciliation**: every API shop (its platform can sync) gets an incremental sync every
  ``reconcile_minutes`` (default 15; ``STAMMKUNDE_RECONCILE_MINUTES`` or the shop setting
  ``reconcile_minutes``; 0 turns it off). The sync reads what changed since the last completed
  sync's high-water mark minus an overlap, so a delivery lost to an outage is in the database at
  most one interval later.
- **webhook health**: hourly, each shop's subscriptions are checked through the adapter's
  ``repair_webhooks`` (WooCommerce: disabled or paused webhooks are set active again, missing
  ones created; Shopify: missing subscriptions created). Each check is a job row of kind
  ``webhooks`` (shown with the shop's jobs on the dashboard, summarised in ``/readyz`` and
  ``/metrics``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.job_models import Job, JobState
from stammkunde.core.models import Shop
from stammkunde.core.timeutil import now as utcnow
from stammkunde.plugins.adapter import Capability, PlatformAdapter, Unsupported
from stammkunde.plugins.ingest import connection_for
from stammkunde.plugins.manager import Plugins

SYNC = "sync"
WEBHOOKS = "webhooks"
DEFAULT_MINUTES = 15.0
ENV = "STAMMKUNDE_RECONCILE_MINUTES"
PUBLIC_URL_ENV = "STAMMKUNDE_PUBLIC_URL"


def interval(settings: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
             ) -> timedelta | None:
    """The shop's reconciliation interval (None: turned off): shop setting > env > 15 min."""
    env = os.environ if env is None else env
    raw = (settings or {}).get("reconcile_minutes")
    if raw is None:
        raw = env.get(ENV)
    minutes = DEFAULT_MINUTES if raw in (None, "") else float(raw)
    return timedelta(minutes=minutes) if minutes > 0 else None


def _api_adapter(plugins: Plugins, platform: str) -> PlatformAdapter | None:
    try:
        adapter = plugins.platform(platform)
    except Exception:
        return None
    return adapter if Capability.SYNC in adapter.capabilities else None


def due_shops(session: Session, plugins: Plugins, *, at: datetime | None = None,
              env: Mapping[str, str] | None = None) -> list[str]:
    """API shops whose last sync began an interval ago or more, with no sync queued or running."""
    at = at or utcnow()
    last = dict(session.execute(
        select(Job.shop_id, func.max(Job.created_at)).where(Job.kind == SYNC)
        .group_by(Job.shop_id)).all())
    busy = set(session.scalars(select(Job.shop_id).where(
        Job.kind == SYNC, Job.state.in_(JobState.ACTIVE))))
    due = []
    for shop in session.scalars(select(Shop).where(Shop.uninstalled_at.is_(None))
                                .order_by(Shop.name)):
        every = interval(shop.settings, env)
        if every is None or shop.id in busy or _api_adapter(plugins, shop.platform) is None:
            continue
        previous = last.get(shop.id)
        if previous is None or previous <= at - every:
            due.append(shop.name)
    return due


def reconcile_due(sessions: sessionmaker[Session], plugins: Plugins,
                  schedule: Callable[[str], str], *, at: datetime | None = None,
                  env: Mapping[str, str] | None = None) -> list[str]:
    """Queue an incremental sync for every due API shop; return their names."""
    with sessions() as session:
        names = due_shops(session, plugins, at=at, env=env)
    for name in names:
        schedule(name)
    return names


@dataclass(frozen=True)
class HealthResult:
    """One shop's webhook check: what was expected, re-enabled, recreated, or why it failed."""

    shop: str
    expected: int = 0
    reenabled: tuple[str, ...] = ()
    recreated: tuple[str, ...] = ()
    error: str | None = None

    @property
    def message(self) -> str:
        """One line for the job row and the dashboard."""
        if self.error:
            return f"webhook check failed: {self.error}"
        parts = []
        if self.reenabled:
            parts.append(f"re-enabled {len(self.reenabled)}: {', '.join(self.reenabled)}")
        if self.recreated:
            parts.append(f"recreated {len(self.recreated)}: {', '.join(self.recreated)}")
        return "; ".join(parts) or f"all {self.expected} subscriptions active"


def check_webhooks(sessions: sessionmaker[Session], plugins: Plugins, base_url: str | None, *,
                   secret_key: str | None, at: datetime | None = None) -> list[HealthResult]:
    """Check and repair every installed shop's webhooks; record one ``webhooks`` job each."""
    at = at or utcnow()
    results: list[HealthResult] = []
    with sessions() as session:
        shops = [(s.id, s.name, s.platform, connection_for(s, secret_key))
                 for s in session.scalars(select(Shop).where(Shop.uninstalled_at.is_(None))
                                          .order_by(Shop.name))]
    for shop_id, name, platform, conn in shops:
        try:
            adapter = plugins.platform(platform)
        except Exception:
            continue
        if Capability.WEBHOOKS not in adapter.capabilities or \
                type(adapter).repair_webhooks is PlatformAdapter.repair_webhooks:
            continue
        url = conn.options.get("webhook_base_url") or base_url
        if not url:
            result = HealthResult(name, error=f"no public URL (set {PUBLIC_URL_ENV})")
        else:
            try:
                repair = plugins.call(plugins.plugin_of(platform), "repair_webhooks",
                                      adapter.repair_webhooks, conn, str(url))
                result = HealthResult(name, len(repair.expected), repair.reenabled,
                                      repair.recreated)
            except Unsupported:
                continue
            except Exception as exc:
                result = HealthResult(name, error=str(exc).splitlines()[0][:300] or
                                      type(exc).__name__)
        results.append(result)
        with sessions() as session, session.begin():
            session.add(Job(
                id=os.urandom(16).hex(), kind=WEBHOOKS, shop_id=shop_id,
                state=JobState.FAILED if result.error else JobState.DONE, step="webhooks",
                done=result.expected - len(result.reenabled) - len(result.recreated),
                total=result.expected, errors=1 if result.error else 0,
                message=result.message, created_at=at, started_at=at, updated_at=at,
                finished_at=at))
    return results


def webhook_health(session: Session) -> dict[str, dict[str, Any]]:
    """The last webhook check per shop: when, its state, what it repaired, its message."""
    latest = (select(Job.shop_id, func.max(Job.created_at).label("at"))
              .where(Job.kind == WEBHOOKS).group_by(Job.shop_id).subquery())
    rows = session.execute(
        select(Shop.name, Job).join(Job, Job.shop_id == Shop.id)
        .join(latest, (latest.c.shop_id == Job.shop_id) & (latest.c.at == Job.created_at))
        .where(Job.kind == WEBHOOKS).order_by(Shop.name))
    out: dict[str, dict[str, Any]] = {}
    for name, job in rows:
        repaired = (job.total or 0) - (job.done or 0) if job.state == JobState.DONE else 0
        out[name] = {"checked_at": job.created_at.isoformat().replace("+00:00", "Z"),
                     "state": "failed" if job.state == JobState.FAILED else
                     ("repaired" if repaired else "ok"),
                     "repaired": repaired, "message": job.message}
    return out


def health_metrics(health: Mapping[str, Mapping[str, Any]], at: datetime | None = None) -> str:
    """Prometheus text for the last webhook checks (one sample per shop)."""
    at = at or utcnow()
    lines = ["# HELP stammkunde_webhook_repairs Subscriptions the last check re-enabled or "
             "recreated.", "# TYPE stammkunde_webhook_repairs gauge"]
    for name, h in sorted(health.items()):
        lines.append(f'stammkunde_webhook_repairs{{shop="{_label(name)}"}} {h["repaired"]}')
    lines += ["# HELP stammkunde_webhook_check_ok Whether the last webhook check succeeded.",
              "# TYPE stammkunde_webhook_check_ok gauge"]
    for name, h in sorted(health.items()):
        lines.append(f'stammkunde_webhook_check_ok{{shop="{_label(name)}"}} '
                     f'{0 if h["state"] == "failed" else 1}')
    lines += ["# HELP stammkunde_webhook_check_age_seconds Seconds since the last webhook check.",
              "# TYPE stammkunde_webhook_check_age_seconds gauge"]
    for name, h in sorted(health.items()):
        checked = datetime.fromisoformat(h["checked_at"].replace("Z", "+00:00"))
        lines.append(f'stammkunde_webhook_check_age_seconds{{shop="{_label(name)}"}} '
                     f'{max(0.0, (at - checked).total_seconds()):.0f}')
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
