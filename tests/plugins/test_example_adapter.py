"""The adapter guide works end to end: install stammkunde and the example adapter into a fresh
virtualenv, see the plugin listed, and run the example's contract tests there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "stammkunde-example-adapter"


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.mark.slow
def test_example_adapter_installs_lists_and_passes_the_kit(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    python = venv / "bin" / "python"
    # real (non-editable) builds without network: dependencies come from the system site; the
    # sources are copied so that no stale build/ directory of the checkout leaks into the wheel
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".work", "tests"))
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-cache-dir", source, source / "examples" / "stammkunde-example-adapter", cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "STAMMKUNDE_"))}
    env["STAMMKUNDE_HOME"] = str(tmp_path / "home")
    listed = json.loads(run(venv / "bin" / "stammkunde", "plugins", "--json", env=env).stdout)
    by_name = {p["name"]: p for p in listed}
    assert by_name["tinyshop"]["platforms"] == ["tinyshop"]
    assert by_name["tinyshop"]["version"] == "0.1.0"
    assert by_name["tinyshop"]["hooks"] == ["register_platforms"]
    tests = tmp_path / "example-tests"
    shutil.copytree(EXAMPLE / "tests", tests)              # run against the installed package
    result = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests,
                 cwd=tmp_path, env=env)
    assert "14 passed, 4 skipped" in result.stdout
