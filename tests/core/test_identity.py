"""E-mail normalisation: the key that makes one person of many accounts."""

import pytest

from stammkunde.core.identity import normalize_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Anna@Example.COM ", "anna@example.com"),
        ("ａｎｎａ@example.com", "anna@example.com"),  # full-width letters (NFKC)
        ("", None),
        ("   ", None),
        (None, None),
        ("not-an-email", None),
    ],
)
def test_normalize_email(raw, expected) -> None:
    assert normalize_email(raw) == expected
