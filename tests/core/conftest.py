"""Shared fixtures for the core tests."""

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="session")
def cdnow() -> dict[str, np.ndarray]:
    """The CDNOW calibration summary (weeks) as arrays: x, t_x, T, zbar."""
    lines = (DATA / "cdnow_summary.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines if not line.startswith("#")]
    header, body = rows[0], np.array(rows[1:], dtype=float)
    return {name: body[:, header.index(name)] for name in ("x", "t_x", "T", "zbar")}
