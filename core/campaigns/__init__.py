"""Campaigns that prove their effect: target → offer → holdout → codes → uplift with an interval.

The core part knows nothing of platforms: it defines campaigns, resolves targets, assigns arms
and codes, and measures results. Pushing codes through a shop's adapter lives in
:mod:`stammkunde.plugins.campaigns`.
"""

from stammkunde.core.campaigns import segment_targets as _segment_targets  # noqa: F401
from stammkunde.core.campaigns.assign import (
    CAPPED,
    HOLDOUT,
    TREATMENT,
    PlannedMember,
    code_for,
    holdout_draw,
    in_holdout,
    member_code,
    plan_members,
    record_assignments,
)
from stammkunde.core.campaigns.define import (
    CampaignSpec,
    create_campaign,
    get_campaign,
    list_campaigns,
    spawn_instance,
)
from stammkunde.core.campaigns.plan import campaign_plan
from stammkunde.core.campaigns.report import campaign_report
from stammkunde.core.campaigns.targets import (
    TARGET_KINDS,
    TargetMember,
    format_target,
    parse_target,
    register_target_kind,
    resolve_target,
)
from stammkunde.core.campaigns.templates import TEMPLATES, get_template, parse_schedule

__all__ = [
    "CAPPED", "HOLDOUT", "TARGET_KINDS", "TEMPLATES", "TREATMENT", "CampaignSpec",
    "PlannedMember", "TargetMember", "campaign_plan", "campaign_report", "code_for",
    "create_campaign", "format_target", "get_campaign", "get_template", "holdout_draw",
    "in_holdout", "list_campaigns", "member_code", "parse_schedule", "parse_target",
    "plan_members", "record_assignments", "register_target_kind", "resolve_target",
    "spawn_instance",
]
