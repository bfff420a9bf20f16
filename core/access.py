"""Dashboard sessions kept on the server, so a copied cookie dies when the session is revoked.

The browser's signed cookie holds a random token; the database keeps only its SHA-256 digest
with the shop and an expiry. Every dashboard request looks the digest up
(:func:`session_shop_id`): logout deletes the row, and an uninstall, a credential change
(reconnect) or a shop redaction deletes all rows of the shop (:func:`revoke_shop_sessions`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from stammkunde.core.models import Base, UTCDateTime
from stammkunde.core.timeutil import now

DEFAULT_LIFETIME = timedelta(hours=8)


class DashboardSession(Base):
    """One signed-in browser: the digest of its token, its shop and when it ends."""

    __tablename__ = "dashboard_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, shop_id: int, lifetime: timedelta = DEFAULT_LIFETIME,
                  *, at: datetime | None = None) -> str:
    """Record a new dashboard session for a shop and return its token (for the cookie)."""
    at = at or now()
    session.execute(delete(DashboardSession).where(DashboardSession.expires_at <= at))
    token = secrets.token_urlsafe(32)
    session.add(DashboardSession(token_hash=_digest(token), shop_id=shop_id, created_at=at,
                                 expires_at=at + lifetime))
    session.flush()
    return token


def session_shop_id(session: Session, token: str | None, *,
                    at: datetime | None = None) -> int | None:
    """Return the shop id of a live session token, None if unknown, revoked or expired."""
    if not token or len(token) > 100:
        return None
    return session.scalar(select(DashboardSession.shop_id).where(
        DashboardSession.token_hash == _digest(token),
        DashboardSession.expires_at > (at or now())))


def end_session(session: Session, token: str | None) -> None:
    """Revoke one session (logout)."""
    if token:
        session.execute(delete(DashboardSession)
                        .where(DashboardSession.token_hash == _digest(token)))


def revoke_shop_sessions(session: Session, shop_id: int) -> int:
    """Revoke every session of a shop (uninstall, reconnect, redaction); return how many."""
    result = session.execute(delete(DashboardSession)
                             .where(DashboardSession.shop_id == shop_id))
    return result.rowcount or 0  # type: ignore[attr-defined]
