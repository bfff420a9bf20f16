"""The wheel holds only the stammkunde namespace, migrations included."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: How a test double in the wheel would show: the signed ``testshop`` platform (tests/testshop.py,
#: formerly webhooks/testing.py); none belongs in what users install.
DOUBLES = re.compile(r"(^|/)(testshop|webhooks/testing)(\.py|/)")


def test_doubles(names: list[str]) -> list[str]:
    """Return the wheel entries that are test doubles."""
    return [n for n in names if DOUBLES.search(n)]


test_doubles.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def test_wheel_contains_only_the_stammkunde_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("stammkunde-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    outside = [n for n in names if not n.startswith(("stammkunde/", "stammkunde-"))]
    assert outside == []
    assert "stammkunde/core/migrations/versions/0001_canonical_model.py" in names
    assert "stammkunde/core/migrations/script.py.mako" in names
    assert "stammkunde/plugins/csvfile/adapter.py" in names
    assert "stammkunde/core/migrations/versions/0007_jobs.py" in names
    for data in ("dashboard/templates/dashboard/overview.html", "dashboard/static/dashboard.css",
                 "dashboard/static/dashboard.js", "dashboard/static/favicon.svg",
                 "translations/de/LC_MESSAGES/messages.mo",
                 "translations/de/LC_MESSAGES/messages.po"):
        assert f"stammkunde/app/{data}" in names, data
    assert not any(n.startswith("stammkunde/tests") for n in names)
    assert test_doubles(names) == []
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "stammkunde = stammkunde.app.cli:main" in text
    assert "[stammkunde]" in text


def test_the_double_pattern_finds_doubles() -> None:
    assert test_doubles([
        "stammkunde/webhooks/testing.py", "stammkunde/testshop.py", "stammkunde/plugins/testing.py",
        "stammkunde/core/money.py",
    ]) == ["stammkunde/webhooks/testing.py", "stammkunde/testshop.py"]


def _runtime_dependencies() -> list[str]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


#: Runtime dependencies used without an import statement of their own (and why).
USED_WITHOUT_IMPORT = {
    "psycopg": "SQLAlchemy's postgresql+psycopg driver",
    "redis": "huey's RedisStorage (STAMMKUNDE_REDIS_URL)",
}


def test_each_runtime_dependency_is_listed_once_and_imported_by_runtime_code() -> None:
    from importlib.metadata import packages_distributions

    from tests.test_import_rules import LAYERS, imported_modules

    names = [_name(r) for r in _runtime_dependencies()]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    imported = {module.split(".")[0] for layer in LAYERS
                for path in (ROOT / layer).rglob("*.py")
                for _, module in imported_modules(path, "stammkunde")}
    by_dist: dict[str, set[str]] = {}
    for top, dists in packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(dist.lower().replace("_", "-"), set()).add(top)
    unused = [n for n in names if n not in USED_WITHOUT_IMPORT
              and not by_dist.get(n, set()) & imported]
    assert unused == []
