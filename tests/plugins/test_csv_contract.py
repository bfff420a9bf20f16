"""The CSV adapter passes the adapter contract kit (file import only; the rest is skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stammkunde.plugins.csvfile import CsvAdapter
from stammkunde.plugins.csvfile.rows import COLUMNS
from stammkunde.plugins.testing import AdapterContract

HEADER = ",".join(COLUMNS)
SAMPLE = HEADER + """
1001,c1,ada@example.com,2024-03-01T10:00:00+01:00,EUR,50.00,,paid,web,WELCOME10
1002,,guest@example.com,2024-03-02,EUR,20.00,20.00,refunded,pos,
1003,c1,ada@example.com,2024-04-05 09:30,EUR,35.50,5.50,paid,web,
"""


class TestCsvContract(AdapterContract):
    """Run the kit against the CSV adapter with a three-row export."""

    @pytest.fixture
    def adapter(self) -> CsvAdapter:
        return CsvAdapter()

    @pytest.fixture
    def sample_file(self, tmp_path: Path) -> tuple[Path, str | None]:
        path = tmp_path / "orders.csv"
        path.write_text(SAMPLE, encoding="utf-8")
        return path, None
