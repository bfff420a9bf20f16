"""OAuth state nonces for app installs: issued once, expiring, consumed exactly once.

The install flow stores a random nonce before sending the merchant to the platform and accepts
the callback only if it returns that nonce, for the same shop, unused and in time (CSRF defence
required by Shopify's OAuth guide). Only the nonce's SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import String, delete, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from stammkunde.core.models import Base, UTCDateTime
from stammkunde.core.timeutil import now

NONCE_TTL = timedelta(minutes=10)


class InstallState(Base):
    """A nonce handed out with an authorize redirect (stored as its SHA-256 hex digest)."""

    __tablename__ = "install_states"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(40))
    shop_domain: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def issue_nonce(session: Session, platform: str, shop_domain: str,
                ttl: timedelta = NONCE_TTL, at: datetime | None = None) -> str:
    """Create and store a fresh nonce for an install of ``shop_domain``; drop expired ones."""
    when = at or now()
    session.execute(delete(InstallState).where(InstallState.expires_at < when))
    nonce = secrets.token_urlsafe(32)
    session.add(InstallState(nonce=_digest(nonce), platform=platform, shop_domain=shop_domain,
                             expires_at=when + ttl))
    session.flush()
    return nonce


def consume_nonce(session: Session, platform: str, shop_domain: str, nonce: str,
                  at: datetime | None = None) -> bool:
    """Mark the nonce used if it is known, unused, unexpired and for this shop; True if so."""
    when = at or now()
    if not nonce or len(nonce) > 200:
        return False
    result = session.execute(
        update(InstallState)
        .where(InstallState.nonce == _digest(nonce), InstallState.platform == platform,
               InstallState.shop_domain == shop_domain, InstallState.used_at.is_(None),
               InstallState.expires_at >= when)
        .values(used_at=when)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
