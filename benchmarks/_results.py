"""Rewrite one ``## ...`` section of benchmarks/RESULTS.md, leaving the others alone."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section headed ``## {title}`` with ``body``."""
    heading = f"## {title}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    section = [heading, "", *body.strip("\n").splitlines(), ""]
    if start is None:
        new = [*lines, "", *section] if lines and lines[-1] else [*lines, *section]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        new = [*lines[:start], *section, *lines[end:]]
    RESULTS.write_text("\n".join(new).rstrip("\n") + "\n")
