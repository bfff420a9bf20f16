"""Campaigns that prove their effect: target → offer → holdout → codes → uplift with an interval.

The core part knows nothing of platforms: it defines campaigns, resolves targets, assigns arms
and codes, and measures results. Pushing codes through a shop's adapter lives in
:mod:`stammkunde.plugins.campaigns`.
"""

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
    TargetKinds,
    TargetMember,
    default_target_kinds,
    format_target,
    parse_target,
    resolve_target,
)
from stammkunde.core.campaigns.templates import TEMPLATES, get_template, parse_schedule

__all__ = [
    "CAPPED", "HOLDOUT", "TEMPLATES", "TREATMENT", "CampaignSpec", "PlannedMember",
    "TargetKinds", "TargetMember", "campaign_plan", "campaign_report", "code_for",
    "create_campaign", "default_target_kinds", "format_target", "get_campaign", "get_template",
    "holdout_draw", "in_holdout", "list_campaigns", "member_code", "parse_schedule",
    "parse_target", "plan_members", "record_assignments", "resolve_target", "spawn_instance",
]
