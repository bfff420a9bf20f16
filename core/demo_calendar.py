"""The demo shop's calendar: window, seasons, hours of the day, channels and seasonal codes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

DEMO_TZ = ZoneInfo("Europe/Berlin")
#: The demo covers the two years of local days 2024-11-01 .. 2026-10-31 (Europe/Berlin).
DEMO_START = datetime(2024, 11, 1, tzinfo=DEMO_TZ).astimezone(UTC)
DEMO_END = datetime(2026, 11, 1, tzinfo=DEMO_TZ).astimezone(UTC)
#: The last instant of the window: reports "as of" it are reproducible whatever the date.
DEMO_AS_OF = DEMO_END - timedelta(seconds=1)

CHANNELS = ("online", "pos", "app", "marketplace")
CHANNEL_SHARES = (0.58, 0.20, 0.12, 0.10)
#: Guests have no app login; the till asks a few for an e-mail receipt.
GUEST_CHANNEL_SHARES = (0.82, 0.08, 0.0, 0.10)

#: Percent off per discount code of the demo shop.
CODE_PERCENT = {"WELCOME10": 10, "BLACKFRIDAY20": 20, "XMAS15": 15, "SUMMER10": 10,
                "STAMMKUNDE5": 5}

MONTH_FACTOR = (0.85, 0.85, 0.95, 0.95, 1.0, 0.95, 0.85, 0.85, 1.0, 1.05, 1.25, 1.45)
WEEKDAY_FACTOR = (1.05, 1.0, 1.0, 1.0, 0.95, 0.9, 1.1)  # Monday .. Sunday
#: Relative orders per local hour: quiet nights, a lunch bump, the evening sofa peak.
HOUR_PROFILE = np.array([0.6, 0.3, 0.2, 0.15, 0.15, 0.25, 0.6, 1.2, 1.8, 2.2, 2.6, 2.8, 3.0, 2.9,
                         2.8, 2.8, 3.0, 3.3, 3.8, 4.4, 4.8, 4.5, 3.4, 1.8])
STORE_OPENS, STORE_HOURS = 9.0, 11.0


def black_friday(year: int) -> date:
    """Return the day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def _black_weekend(day: date) -> bool:
    start = black_friday(day.year)
    return start <= day <= start + timedelta(days=3)


def day_weight(day: date) -> float:
    """Return how busy a local day is relative to an average one."""
    weight = MONTH_FACTOR[day.month - 1] * WEEKDAY_FACTOR[day.weekday()]
    if _black_weekend(day):
        weight *= 2.5
    if day.month == 12 and 24 <= day.day <= 26:
        weight *= 0.4
    elif day.month == 12 and day.day >= 21:
        weight *= 0.7
    return weight


def seasonal_code(at: datetime, u: float) -> str | None:
    """Return the seasonal code an order at this instant uses for a uniform draw ``u``."""
    day = at.astimezone(DEMO_TZ).date()
    if _black_weekend(day):
        return "BLACKFRIDAY20" if u < 0.35 else None
    if day.month == 12 and day.day <= 20:
        return "XMAS15" if u < 0.2 else None
    if day.month in (7, 8):
        return "SUMMER10" if u < 0.12 else None
    return None


class Calendar:
    """Map operational time (seasonless days) onto real local instants of the window."""

    def __init__(self, start: datetime, end: datetime) -> None:
        first = start.astimezone(DEMO_TZ).date()
        last = (end - timedelta(seconds=1)).astimezone(DEMO_TZ).date()
        self.dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        weights = np.array([day_weight(d) for d in self.dates])
        self.weights = weights * len(weights) / weights.sum()
        self.cum = np.cumsum(self.weights)
        hours = np.concatenate([[0.0], np.cumsum(HOUR_PROFILE)])
        self.hour_cdf = hours / hours[-1]

    @property
    def days(self) -> int:
        """Number of local days in the window."""
        return len(self.dates)

    def instant(self, op_time: float, store: bool = False) -> datetime:
        """Return the UTC instant (whole seconds) of an operational time; store orders in hours."""
        i = min(int(np.searchsorted(self.cum, op_time, side="right")), self.days - 1)
        before = self.cum[i - 1] if i else 0.0
        frac = min(max((op_time - before) / self.weights[i], 0.0), 1.0 - 1e-9)
        if store:
            hour = STORE_OPENS + frac * STORE_HOURS
        else:
            h = int(np.searchsorted(self.hour_cdf, frac, side="right")) - 1
            span = self.hour_cdf[h + 1] - self.hour_cdf[h]
            hour = h + (frac - self.hour_cdf[h]) / span
        seconds = min(int(hour * 3600), 86399)
        local = datetime.combine(self.dates[i], time(seconds // 3600, seconds // 60 % 60,
                                                     seconds % 60), DEMO_TZ)
        return local.astimezone(UTC)
