"""The one-way dependencies of DESIGN.md hold in every source file: core ← plugins ← webhooks ← app.

Imports are read from the source with :mod:`ast` (imports inside functions count too), so a lazy
import cannot slip past the rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "plugins", "webhooks", "app")  # each may import only those before it
#: What a layer must not import besides the later layers (DESIGN: "core knows nothing of Flask,
#: HTTP or any platform").
FOREIGN = {"core": ("flask", "werkzeug", "requests", "gunicorn")}


def imported_modules(path: Path, package: str) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) for every import in a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from stammkunde import app` imports a layer too
                yield node.lineno, f"{module}.{alias.name}"


def _package_of(path: Path) -> str:
    return ".".join(("stammkunde", *path.relative_to(ROOT).parts[:-1]))


def violations(layer: str) -> list[str]:
    """Return 'file:line imports module' for each import the layer's rules forbid."""
    later = LAYERS[LAYERS.index(layer) + 1:]
    forbidden = [f"stammkunde.{name}" for name in later] + list(FOREIGN.get(layer, ()))
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, module in imported_modules(path, _package_of(path)):
            if any(module == bad or module.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_what_comes_before_it(layer: str) -> None:
    assert violations(layer) == []


def test_the_check_sees_lazy_relative_and_from_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import os\n"
        "def f():\n"
        "    from stammkunde.app.cli import main\n"
        "from .. import webhooks\n"
        "from .x import y\n"
    )
    found = {m for _, m in imported_modules(source, "stammkunde.core.campaigns")}
    assert {"os", "stammkunde.app.cli", "stammkunde.core.webhooks",
            "stammkunde.core.campaigns.x", "stammkunde.core.campaigns.x.y"} <= found
