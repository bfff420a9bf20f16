"""The adapter guide works end to end: install stammkunde and the example adapter into a fresh
virtualenv, see the plugin listed, run the example's contract tests there, then use it as a
merchant would: ``shops add`` with its options, ``sync`` from a fake TinyShop, ``import`` its
export file, and a signed webhook through the receiver and ``inbox work``."""

from __future__ import annotations

import hashlib
import hmac
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
    assert "16 passed, 4 skipped" in result.stdout
    env["STAMMKUNDE_SECRET_KEY"] = "example-key"
    use_the_adapter_from_the_command_line(venv, tmp_path, env)


def use_the_adapter_from_the_command_line(venv: Path, tmp_path: Path,
                                          env: dict[str, str]) -> None:
    """Follow docs/adapters.md: add, sync, import and receive a webhook with the installed CLI."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from stammkunde_example.fake import FakeTinyShop
    finally:
        sys.path.remove(str(EXAMPLE))

    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run([str(venv / "bin" / "stammkunde"), *args], env=env, text=True,
                              capture_output=True, timeout=120)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done.stdout if code == 0 else done.stderr

    assert cli("shops", "add", "nourl", "--platform", "tinyshop", code=2) == (
        "error: platform 'tinyshop' needs --option base_url=… (the root of the shop's TinyShop "
        "API)\n")
    assert cli("shops", "add", "x", "--platform", "tinyshop", "--option", "base=1", code=2) == (
        "error: platform 'tinyshop' takes no option(s): base (its options: base_url, "
        "webhook_secret)\n")
    options = json.loads(cli("shops", "options", "tinyshop", "--json"))
    assert [(o["option"], o["secret"], o["required"]) for o in options] == [
        ("base_url", False, True), ("webhook_secret", True, False)]
    with FakeTinyShop() as fake:  # 8 orders of 4 customers, totals 11.50 … 18.50
        assert cli("shops", "add", "tiny", "--platform", "tinyshop", "--domain", "tiny.example",
                   "--option", f"base_url={fake.base_url}", "--option",
                   "webhook_secret=tiny-s3cret") == "added shop tiny (tinyshop)\n"
        assert cli("sync", "tiny") == ("customers: 4 new, 0 updated, 0 unchanged, 0 stale\n"
                                       "orders: 8 new, 0 updated, 0 unchanged, 0 stale\n")
        export = [{**fake.orders[0], "id": 200 + k, "total": total}
                  for k, total in enumerate(("20.00", "30.00"))]
    path = tmp_path / "tinyshop-orders.json"
    path.write_text(json.dumps({"orders": export}), encoding="utf-8")
    # no --format: the shop's own adapter reads its files (file_formats: tinyshop-json)
    assert cli("import", "tiny", str(path)) == "2 rows: 2 new, 0 updated, 0 unchanged, 0 rejected\n"
    body = json.dumps({**export[0], "id": 300, "total": "40.00"}).encode()
    signature = hmac.new(b"tiny-s3cret", body, hashlib.sha256).hexdigest()
    forged = hmac.new(b"guess", body, hashlib.sha256).hexdigest()
    script = (
        "import sys\n"
        "from stammkunde.app.web import create_app\n"
        "client = create_app().test_client()\n"
        "body = sys.stdin.buffer.read()\n"
        "for delivery, signature in zip(sys.argv[1::2], sys.argv[2::2]):\n"
        "    r = client.post('/webhooks/tinyshop', data=body, headers={"
        "'X-Tiny-Shop': 'tiny.example', 'X-Tiny-Topic': 'order.saved', "
        "'X-Tiny-Delivery': delivery, 'X-Tiny-Signature': signature})\n"
        "    print(r.status_code)\n")
    posted = subprocess.run([str(venv / "bin" / "python"), "-c", script, "forged", forged,
                             "d-300", signature], input=body, env=env, capture_output=True,
                            timeout=120)
    assert posted.stdout.decode().split() == ["401", "200"], posted.stderr.decode()[-2000:]
    cli("inbox", "work", "--once")
    stored = json.loads(cli("inbox", "list", "--json"))
    assert [(d["delivery_id"], d["status"]) for d in stored] == [("d-300", "processed")]
    report = json.loads(cli("report", "tiny", "--json"))
    # 8 synced (11.50 + … + 18.50 = 120.00) + 2 imported (50.00) + 1 by webhook (40.00)
    assert (report["orders"], report["net_revenue"]) == (11, "210.00")
    listed = cli("shops", "list", "--json")
    assert "tiny-s3cret" not in listed and "tiny-s3cret" not in json.dumps(options)
    database = (Path(env["STAMMKUNDE_HOME"]) / "stammkunde.db").read_bytes()
    assert b"tiny-s3cret" not in database  # stored encrypted
