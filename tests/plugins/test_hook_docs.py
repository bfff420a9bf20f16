"""docs/adapters.md documents every hook under a heading written as its signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from stammkunde.plugins import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"
HEADING = re.compile(r"^### (\w+)\((.*)\)\s*$", re.MULTILINE)


def specs() -> dict[str, str]:
    """Hook name -> its signature as a heading writes it: ``name(arg, arg)``."""
    found = {}
    for name, fn in vars(hookspecs).items():
        if callable(fn) and hasattr(fn, "stammkunde_spec"):
            params = ", ".join(inspect.signature(fn).parameters)
            found[name] = f"{name}({params})"
    return found


def headings() -> dict[str, str]:
    return {m.group(1): f"{m.group(1)}({m.group(2)})" for m in HEADING.finditer(DOCS.read_text())}


def test_every_hook_has_a_heading_with_its_signature() -> None:
    documented = headings()
    for name, signature in specs().items():
        assert name in documented, f"hook {name} is missing from docs/adapters.md"
        assert documented[name] == signature, (
            f"docs/adapters.md has '### {documented[name]}' but the hook is {signature}")


def test_no_heading_documents_a_hook_that_does_not_exist() -> None:
    assert set(headings()) <= set(specs()), set(headings()) - set(specs())


def test_there_are_hooks_to_document() -> None:
    assert "register_platforms" in specs()
