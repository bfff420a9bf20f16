"""The wheel holds only the stammkunde namespace, migrations included."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    assert not any(n.startswith("stammkunde/tests") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "stammkunde = stammkunde.app.cli:main" in text
    assert "[stammkunde]" in text
