"""Predictive customer lifetime value: BG/NBD (or its no-drop-out limit NBD) purchase frequency
and Gamma-Gamma spend.

Typical use::

    summary = summary_from_orders(customer_idx, order_days, values, as_of)
    model = fit_model(summary)
    if isinstance(model, ModelUnavailable):
        print(model.reason)
    else:
        pred = model.predict(summary, horizon_days=365.25)  # dict of per-customer arrays

This package is the numeric boundary of Stammkunde: money arrives and leaves as floats (the
rest of the system keeps ``Decimal``); times are numpy datetime64 or float days since the epoch.
"""

from .bgnbd import (
    BGNBDFit,
    conditional_expected_purchases,
    expected_purchases_new,
    fit_bgnbd,
    probability_alive,
)
from .gamma_gamma import (
    GammaGammaFit,
    expected_order_value,
    fit_gamma_gamma,
    frequency_value_correlation,
)
from .nbd import NBDFit, fit_nbd
from .predict import (
    DEFAULT_ANNUAL_DISCOUNT_RATE,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_HORIZON_MONTHS,
    DEFAULT_MARGIN,
    MIN_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    FittedModel,
    ModelUnavailable,
    Prediction,
    fit_model,
    monthly_discount_rate,
)
from .summary import (
    DAYS_PER_UNIT,
    Compressed,
    CustomerSummary,
    compress,
    days_to_unit,
    summary_from_orders,
    to_days,
    unit_to_days,
)

__all__ = [
    "DAYS_PER_UNIT",
    "DEFAULT_ANNUAL_DISCOUNT_RATE",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_HORIZON_MONTHS",
    "DEFAULT_MARGIN",
    "MIN_CUSTOMERS",
    "MIN_REPEAT_CUSTOMERS",
    "BGNBDFit",
    "Compressed",
    "CustomerSummary",
    "FittedModel",
    "GammaGammaFit",
    "ModelUnavailable",
    "NBDFit",
    "Prediction",
    "compress",
    "conditional_expected_purchases",
    "days_to_unit",
    "expected_order_value",
    "expected_purchases_new",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_model",
    "fit_nbd",
    "frequency_value_correlation",
    "monthly_discount_rate",
    "probability_alive",
    "summary_from_orders",
    "to_days",
    "unit_to_days",
]
