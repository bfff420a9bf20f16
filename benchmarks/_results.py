"""Rewrite one ``## …`` section of ``benchmarks/RESULTS.md``, leaving the others alone."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section headed ``## title`` with ``body``."""
    heading = f"## {title}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    replaced = False
    while i < len(lines):
        if lines[i].strip() == heading:
            out += [heading, "", body.strip(), ""]
            i += 1
            while i < len(lines) and not lines[i].startswith("## "):
                i += 1
            replaced = True
            continue
        out.append(lines[i])
        i += 1
    if not replaced:
        if out and out[-1].strip():
            out.append("")
        out += [heading, "", body.strip(), ""]
    path.write_text("\n".join(out).rstrip() + "\n", encoding="utf-8")
