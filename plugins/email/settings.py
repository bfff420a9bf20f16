"""The ``[email]`` table of ``stammkunde.toml``: where and how offer e-mails are sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stammkunde.core.errors import UserError
from stammkunde.core.settings import FILE_NAME, read_file
from stammkunde.plugins.adapter import Secret

PASSWORD_ENV = "STAMMKUNDE_SMTP_PASSWORD"
SECURITY = ("none", "starttls", "tls")
DEFAULT_PORT = {"none": 25, "starttls": 587, "tls": 465}
KEYS = ("host", "port", "sender", "security", "username", "public_url", "rate_per_minute",
        "reply_to", "timeout")


@dataclass(frozen=True)
class EmailSettings:
    """SMTP server, sender and limits of the ``email`` channel."""

    host: str
    port: int
    sender: str
    security: str
    public_url: str  # where `stammkunde serve` answers: the unsubscribe links point there
    username: str | None = None
    password: Secret | None = None
    rate_per_minute: float = 60.0
    reply_to: str | None = None
    timeout: float = 30.0

    @property
    def sender_name(self) -> str:
        """Return the sender's display name (or its address)."""
        name, addr = parseaddr(self.sender)
        return name or addr


def _text(table: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise UserError(f"{FILE_NAME}: [email] needs {key}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{FILE_NAME}: email.{key} must be a non-empty string")
    return value.strip()


def _number(table: Mapping[str, Any], key: str, default: float, low: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise UserError(f"{FILE_NAME}: email.{key} must be a number of at least {low:g}")
    return float(value)


def parse_email_settings(table: Any, env: Mapping[str, str]) -> EmailSettings:
    """Check the ``[email]`` table and return the settings (password from the environment)."""
    if not isinstance(table, dict):
        raise UserError(f"{FILE_NAME}: email must be a table ([email])")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UserError(f"{FILE_NAME}: unknown key email.{unknown[0]}")
    security = _text(table, "security") or "starttls"
    if security not in SECURITY:
        raise UserError(f"{FILE_NAME}: email.security must be one of {', '.join(SECURITY)}, "
                        f"not {security!r}")
    port = table.get("port", DEFAULT_PORT[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UserError(f"{FILE_NAME}: email.port must be a port number (1-65535)")
    sender = _text(table, "sender", required=True) or ""
    if "@" not in parseaddr(sender)[1]:
        raise UserError(f"{FILE_NAME}: email.sender must be an address like "
                        "'Laden <hallo@laden.example>'")
    public_url = (_text(table, "public_url", required=True) or "").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"{FILE_NAME}: email.public_url must be the http(s) address where "
                        "`stammkunde serve` answers (the unsubscribe links point there)")
    username = _text(table, "username")
    password = env.get(PASSWORD_ENV) or None
    if username and not password:
        raise UserError(f"email.username is set in {FILE_NAME} but {PASSWORD_ENV} is not")
    return EmailSettings(
        host=_text(table, "host", required=True) or "", port=port, sender=sender,
        security=security, public_url=public_url, username=username,
        password=Secret(password) if password else None,
        rate_per_minute=_number(table, "rate_per_minute", 60.0, 0.001),
        reply_to=_text(table, "reply_to"), timeout=_number(table, "timeout", 30.0, 0.1))


def load_email_settings(home: Path, env: Mapping[str, str]) -> EmailSettings:
    """Read the ``[email]`` table from ``home/stammkunde.toml``, or a one-line error."""
    data = read_file(home) or {}
    if "email" not in data:
        raise UserError(f"no [email] table in {home / FILE_NAME}: add one (host, sender, "
                        "public_url, ...) to send offers by e-mail; nothing was sent")
    return parse_email_settings(data["email"], env)
