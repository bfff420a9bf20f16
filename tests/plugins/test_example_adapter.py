"""The adapter guide works end to end: install stammkunde and the example adapter into a fresh
virtualenv, see the plugin listed, and run the example's contract tests there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
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
    # Real (non-editable) wheels, built by this interpreter, whose build tools dev.py installed:
    # the base interpreter's own setuptools and wheel (old or missing on a fresh machine) are
    # never used. The sources are copied so no stale build/ of the checkout leaks into a wheel.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".work", "tests"))
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-cache-dir", "--disable-pip-version-check", "-w", wheels, source,
        source / "examples" / "stammkunde-example-adapter", cwd=tmp_path)
    # A clean venv sees this environment's dependencies through a .pth line (no network), but
    # not its editable stammkunde: a .pth-added folder's own .pth files are not run.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    target = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                      ).stdout.strip())
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (target / "outer-environment.pth").write_text("\n".join(sorted(outer)) + "\n")
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-cache-dir",
        "--disable-pip-version-check", *sorted(wheels.glob("*.whl")), cwd=tmp_path)
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
    assert "14 passed, 5 skipped" in result.stdout
