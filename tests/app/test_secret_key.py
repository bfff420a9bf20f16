"""The secret key: required to serve, checked by /readyz, rotatable (issue 14, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.cli import cli
from stammkunde.app.dashboard.auth import make_login_token
from stammkunde.app.web import create_app
from stammkunde.core.config import Settings
from stammkunde.core.crypto import SecretKey, decrypt_json
from stammkunde.core.models import Shop
from stammkunde.core.shops import create_shop, credentials

OLD, NEW = "old-secret-key", "new-secret-key"


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> dict[str, bytes]:
    """Two shops whose credentials were encrypted with the old key; a CSV shop without any."""
    with sessions() as s, s.begin():
        create_shop(s, "a", "shopify", domain="a.myshopify.com", secret_key=OLD,
                    credentials={"access_token": "shpat_a"})
        create_shop(s, "b", "woocommerce", domain="https://b.example", secret_key=OLD,
                    credentials={"consumer_key": "ck_b", "consumer_secret": "cs_b"})
        create_shop(s, "till", "csv")
    return tokens(sessions)


def tokens(sessions: sessionmaker[Session]) -> dict[str, bytes]:
    with sessions() as s:
        return {n: c for n, c in s.execute(select(Shop.name, Shop.credentials)) if c}


@pytest.mark.parametrize("command", [["serve"], ["serve", "--dev"], ["worker"]])
def test_serve_and_worker_refuse_to_start_without_a_key(
        command: list[str], cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAMMKUNDE_SECRET_KEY")
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: STAMMKUNDE_SECRET_KEY is not set")


def test_readyz_fails_while_credentials_cannot_be_decrypted(
        stored: dict[str, bytes], database_url: str, tmp_path: Path) -> None:
    def ready(key: str) -> tuple[int, dict[str, str]]:
        settings = Settings(home=tmp_path, database_url=database_url, secret_key=key)
        resp = create_app({"TESTING": True}, settings).test_client().get("/readyz")
        return resp.status_code, resp.get_json()

    status, body = ready(NEW)
    assert status == 503 and body["credentials"] == "2 shop(s) cannot be decrypted"
    assert ready(SecretKey(NEW, [OLD]))[0] == 200  # mid-rotation: the old key still opens them
    status, body = ready(OLD)
    assert (status, body["status"], body["credentials"]) == (200, "ok", "ok")


def test_keys_rotate_re_encrypts_every_credential(
        stored: dict[str, bytes], sessions: sessionmaker[Session], cli_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMMKUNDE_SECRET_KEY", NEW)
    monkeypatch.setenv("STAMMKUNDE_SECRET_KEY_PREVIOUS", f"{OLD}, an-older-key")
    result = CliRunner().invoke(cli, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "re-encrypted the credentials of 2 shop(s) with the current key"
    after = tokens(sessions)
    assert set(after) == {"a", "b"} and all(after[n] != stored[n] for n in after)
    # the new key alone opens them now; the old one no longer does
    assert decrypt_json(after["a"], NEW) == {"access_token": "shpat_a"}
    assert decrypt_json(after["b"], NEW) == {"consumer_key": "ck_b", "consumer_secret": "cs_b"}
    with pytest.raises(Exception, match="cannot be decrypted"):
        decrypt_json(after["a"], OLD)


def test_keys_rotate_changes_nothing_when_a_credential_cannot_be_opened(
        stored: dict[str, bytes], sessions: sessionmaker[Session], cli_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMMKUNDE_SECRET_KEY", NEW)  # the previous key was forgotten
    monkeypatch.delenv("STAMMKUNDE_SECRET_KEY_PREVIOUS", raising=False)
    result = CliRunner().invoke(cli, ["keys", "rotate"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: credentials of 2 shop(s) cannot be decrypted with STAMMKUNDE_SECRET_KEY or "
        "STAMMKUNDE_SECRET_KEY_PREVIOUS: a, b; nothing was changed")
    assert tokens(sessions) == stored


def test_sessions_and_login_links_survive_a_rotation(stored: dict[str, bytes], database_url: str,
                                                     tmp_path: Path) -> None:
    def app(key: str):  # type: ignore[no-untyped-def]
        settings = Settings(home=tmp_path, database_url=database_url, secret_key=key)
        return create_app({"TESTING": True}, settings)

    before = app(OLD)
    browser = before.test_client()
    assert browser.get(f"/login?token={make_login_token(OLD, 'till')}").status_code == 302
    link = make_login_token(OLD, "till")
    rotated = app(SecretKey(NEW, [OLD]))
    same = rotated.test_client()
    cookie = browser.get_cookie("stammkunde_session")
    assert cookie is not None
    same.set_cookie("stammkunde_session", cookie.value)  # signed with the old key
    assert same.get("/shops/till/").status_code == 200
    assert rotated.test_client().get(f"/login?token={link}").status_code == 302
    assert app(NEW).test_client().get(
        f"/login?token={make_login_token(OLD, 'till')}").status_code == 403  # rotation done
    assert credentials(Shop(credentials=stored["a"]), SecretKey(NEW, [OLD])) == {
        "access_token": "shpat_a"}
