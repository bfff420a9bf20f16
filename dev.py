#!/usr/bin/env python3
"""Set up and run Stammkunde from a fresh clone with nothing but Python 3.11 and pip.

    python3 dev.py demo [ARGS...]   create .venv, install, load the demo shop, print its report
    python3 dev.py test [ARGS...]   create .venv, install with test extras, run the test suite
                                    (SQLite; add --postgres to run it again on PostgreSQL)
    python3 dev.py run ARGS...      run any `stammkunde` command inside .venv
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("STAMMKUNDE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def sh(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    """Run a command, echoing it, and return its exit code."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def ensure_venv(extras: str) -> None:
    """Create .venv and (re)install the project when pyproject.toml or the extras changed."""
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".stammkunde-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    pip = [BIN / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if sh(*pip, "--upgrade", "pip", "setuptools>=68", "wheel") != 0:
        sys.exit("pip could not upgrade itself")
    target = f".[{extras}]" if extras else "."
    if sh(*pip, "-e", target) != 0:
        sys.exit("installing the project failed")
    stamp.write_text(digest)


def demo(args: list[str]) -> int:
    """Install and run `stammkunde demo`."""
    ensure_venv("")
    return sh(BIN / "stammkunde", "demo", *args)


def test(args: list[str]) -> int:
    """Install with test extras and run ruff and pytest (again on PostgreSQL with --postgres)."""
    ensure_venv("test")
    postgres = "--postgres" in args
    args = [a for a in args if a != "--postgres"]
    if sh(BIN / "ruff", "check", ".") != 0:
        return 1
    code = sh(BIN / "python", "-m", "pytest", *args)
    if code != 0 or not postgres:
        return code
    env = dict(os.environ, STAMMKUNDE_TEST_DB="postgresql")
    return sh(BIN / "python", "-m", "pytest", *args, env=env)


def main() -> int:
    """Dispatch the sub-command."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "run"}:
        print(__doc__)
        return 2
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "run":
        ensure_venv("")
        return sh(BIN / "stammkunde", *rest)
    return demo(rest) if cmd == "demo" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
