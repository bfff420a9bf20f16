"""Customer scores: RFM segments, lifecycle stages, loyalty points and types, win-back targets.

``score_customers(session, shop, as_of, settings)`` runs one SQL query of per-person aggregates
and computes every score with numpy; the submodules document each definition.
"""

from stammkunde.core.segments.data import PersonArrays, load_person_arrays
from stammkunde.core.segments.lifecycle import STAGES
from stammkunde.core.segments.loyalty import LOYALTY_TYPES
from stammkunde.core.segments.report import retention_report, score_report
from stammkunde.core.segments.rfm import SEGMENTS
from stammkunde.core.segments.scores import (
    CUSTOMER_FIELDS,
    WINBACK_FIELDS,
    Scores,
    compute_scores,
    customer_rows,
    score_customers,
    win_back_targets,
)

__all__ = [
    "CUSTOMER_FIELDS",
    "LOYALTY_TYPES",
    "SEGMENTS",
    "STAGES",
    "WINBACK_FIELDS",
    "PersonArrays",
    "Scores",
    "compute_scores",
    "customer_rows",
    "load_person_arrays",
    "retention_report",
    "score_customers",
    "score_report",
    "win_back_targets",
]
