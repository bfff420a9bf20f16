"""docs/adapters.md's record-field reference names every field of every canonical record."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from stammkunde.core import records

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def documented() -> dict[str, set[str]]:
    """Return the fields the reference table lists, by record."""
    text = DOC.read_text(encoding="utf-8").split("## Record fields", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.startswith("|") or cells[0].startswith("---"):
            continue
        if cells[0].startswith("`"):
            current = cells[0].strip("`")
        out.setdefault(current, set()).update(re.findall(r"`(\w+)`", cells[1]))
    return out


def test_every_record_field_is_in_the_reference() -> None:
    classes = {name: cls for name, cls in vars(records).items()
               if dataclasses.is_dataclass(cls) and cls.__module__ == records.__name__}
    expected = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in classes.items()}
    table = documented()
    assert {name: fields - table.get(name, set()) for name, fields in expected.items()
            if fields - table.get(name, set())} == {}
    assert set(table) - {"", "record"} <= set(expected)
