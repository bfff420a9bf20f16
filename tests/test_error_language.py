"""Core and plugins speak of fields; only the command line names its flags (DESIGN, issue 13).

The dashboard shows the same errors, so a message written in core must not say ``--percent``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from stammkunde.app.cli.base import FLAGS, user_message
from stammkunde.core.errors import FieldError

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"(^|[\s(`'\"/])--[a-z][a-z-]+")


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_no_message_in_core_plugins_or_webhooks_names_a_cli_flag() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
             for layer in ("core", "plugins", "webhooks")
             for path in sorted((ROOT / layer).rglob("*.py"))
             for line, text in _strings(path) if FLAG.search(text)]
    assert found == []


def test_a_field_error_reads_in_fields_and_the_cli_renders_its_flags() -> None:
    err = FieldError("{ends_at} must be after {starts_at}, not {value}", value="{x}")
    assert str(err) == "ends at must be after starts at, not {x}"  # what the dashboard shows
    assert user_message(err) == "--ends must be after --starts, not {x}"
    assert err.fields == ("ends_at", "starts_at")


def test_every_field_core_names_has_a_flag() -> None:
    fields = set()
    for layer in ("core", "plugins"):
        for path in (ROOT / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "FieldError"
                        and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr)):
                    template = "".join(
                        part.value for part in (node.args[0].values
                                                if isinstance(node.args[0], ast.JoinedStr)
                                                else [node.args[0]])
                        if isinstance(part, ast.Constant))
                    keywords = {k.arg for k in node.keywords}
                    fields |= {m for m in re.findall(r"\{(\w+)", template) if m not in keywords}
    assert fields and sorted(fields - set(FLAGS)) == []
