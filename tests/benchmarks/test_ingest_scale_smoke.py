"""The ingest benchmark at a tiny size, end to end: every part runs and stores what it generated
(the full run takes most of an hour; a mistake in it should not wait for that)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ingest_scale.py"


def test_every_part_of_the_ingest_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    databases = [os.environ.get("STAMMKUNDE_TEST_DB", "sqlite")]  # the suite's database
    env = {**os.environ, "STAMMKUNDE_HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders", "3000", "--databases", *databases,
         "--shopify-orders", "400", "--deliveries", "300", "--memory-orders", "2000",
         "--no-write"],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for kind in databases:
        # the import table: all 3,000 orders stored, and the re-import found nothing new
        assert any(line.startswith(f"| {kind} | 3,000 | 3,000 |") and "0 new" in line
                   for line in table), table
        assert any(line.startswith(f"| {kind} | 2,000 | 2,000 |") for line in table), table
        assert any(line.startswith(f"| {kind} | 300 |") for line in table), table  # inbox
        assert any(f"`sync_shop` on {kind}" in line and "| 400 |" in line for line in table)
    assert not list(tmp_path.glob("ingest-scale-*")), "the work folder is removed"
