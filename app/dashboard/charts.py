"""Small server-side charts: SVG bar charts, interval charts and a colour scale for heatmaps.

The markup is built from escaped strings (``markupsafe``), so labels from shop data are safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


def heat_bucket(share: float | None, top: float = 1.0) -> int | None:
    """Return the heatmap class (0–10) of a share in [0, top]: CSS ``.h0`` … ``.h10``."""
    if share is None:
        return None
    t = 0.0 if top <= 0 else max(0.0, min(share / top, 1.0))
    return round(t * 10)


@dataclass(frozen=True)
class Bar:
    """One bar: label, value, its formatted text and an optional sub-label."""

    label: str
    value: float
    text: str
    note: str = ""


#: Width of one character of the charts' 12 px labels, generously (digits and wide letters).
CHAR_WIDTH = 7.2


def text_width(text: str) -> float:
    """Return the width a chart label needs (an upper estimate, in SVG units at 12 px)."""
    return len(text) * CHAR_WIDTH


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 520, row: int = 36,
              label_width: int | None = None, value_width: int | None = None) -> Markup:
    """Return a horizontal bar chart as inline SVG (one row per bar, value text at the end).

    The label and value columns are as wide as their longest text, so no label is cut; the
    chart is an image named by its title and lists every bar's value for screen readers.
    """
    top = max((b.value for b in bars), default=0.0) or 1.0
    height = row * max(len(bars), 1) + 8
    if label_width is None:
        label_width = int(max((text_width(b.label) for b in bars), default=40) + 16)
    if value_width is None:
        value_width = int(max((text_width(f"{b.text} {b.note}") for b in bars), default=60) + 14)
    # Very long labels: widen the drawing rather than squeeze the bars below a third of it.
    width = max(width, int((label_width + value_width) * 1.5))
    plot = width - label_width - value_width
    summary = "; ".join(f"{b.label}: {b.text}" + (f" ({b.note})" if b.note else "")
                        for b in bars)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}: {escape(summary)}" '
             f'xmlns="http://www.w3.org/2000/svg">'
             f"<title>{escape(title)}</title>"]
    for i, b in enumerate(bars):
        y = 4 + i * row
        w = max(plot * b.value / top, 1.5) if b.value > 0 else 0
        parts.append(
            f'<text x="{label_width - 10}" y="{y + row / 2 + 1:.1f}" class="chart-label" '
            f'text-anchor="end" dominant-baseline="middle">{escape(b.label)}</text>'
            f'<rect x="{label_width}" y="{y + 6}" width="{w:.1f}" height="{row - 12}" rx="3" '
            f'class="chart-bar"><title>{escape(b.label)}: {escape(b.text)}</title></rect>'
            f'<text x="{label_width + w + 8:.1f}" y="{y + row / 2 + 1:.1f}" class="chart-value" '
            f'dominant-baseline="middle">{escape(b.text)}'
            + (f' <tspan class="chart-note">{escape(b.note)}</tspan>' if b.note else "")
            + "</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval (e.g. uplift with its 95 % CI)."""

    label: str
    estimate: float
    low: float
    high: float


def interval_chart(items: Sequence[Interval], fmt: Callable[[float], str], *, title: str,
                   width: int = 560, row: int = 40, label_width: int | None = None) -> Markup:
    """Return estimates with their intervals around a zero line as inline SVG."""
    if label_width is None:
        label_width = int(max((text_width(i.label) for i in items), default=40) + 16)
    lo = min([0.0, *(i.low for i in items)])
    hi = max([0.0, *(i.high for i in items)])
    span = (hi - lo) or 1.0
    plot = width - label_width - 30
    height = row * max(len(items), 1) + 26

    def x(v: float) -> float:
        return label_width + plot * (v - lo) / span

    summary = "; ".join(f"{i.label}: {fmt(i.estimate)} ({fmt(i.low)} … {fmt(i.high)})"
                        for i in items)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}: {escape(summary)}" '
             f'xmlns="http://www.w3.org/2000/svg">'
             f"<title>{escape(title)}</title>"
             f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="0" y2="{height - 20}" class="chart-zero"/>'
             f'<text x="{x(0):.1f}" y="{height - 6}" text-anchor="middle" class="chart-note">'
             f"{escape(fmt(0.0))}</text>"]
    for i, it in enumerate(items):
        y = 4 + i * row + row / 2
        parts.append(
            f'<text x="{label_width - 10}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="middle" class="chart-label">{escape(it.label)}</text>'
            f'<line x1="{x(it.low):.1f}" x2="{x(it.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="chart-ci"/>'
            f'<circle cx="{x(it.estimate):.1f}" cy="{y:.1f}" r="5" class="chart-point">'
            f"<title>{escape(it.label)}: {escape(fmt(it.estimate))} "
            f"({escape(fmt(it.low))} … {escape(fmt(it.high))})</title></circle>"
            f'<text x="{x(it.estimate):.1f}" y="{y - 10:.1f}" text-anchor="middle" '
            f'class="chart-value">{escape(fmt(it.estimate))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
