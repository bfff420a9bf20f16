"""Pending app installations: single-use, expiring nonces for a platform's key exchange.

The nonce travels to the platform and comes back with the credentials; only its SHA-256 digest
is stored, so a copy of the database cannot complete someone else's installation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from stammkunde.core.models import InstallNonce
from stammkunde.core.timeutil import now

TTL = timedelta(minutes=30)


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def issue_nonce(session: Session, platform: str, store_url: str, *,
                shop_name: str | None = None, ttl: timedelta = TTL,
                at: datetime | None = None, rebind_shop_id: int | None = None) -> str:
    """Record a pending installation and return its fresh nonce.

    ``rebind_shop_id`` names the installed shop a signed-in session of it is reconnecting; an
    install without it never changes an existing shop.
    """
    at = at or now()
    nonce = secrets.token_urlsafe(32)
    session.add(InstallNonce(nonce_hash=_digest(nonce), platform=platform, store_url=store_url,
                             shop_name=shop_name, created_at=at, expires_at=at + ttl,
                             rebind_shop_id=rebind_shop_id))
    session.flush()
    return nonce


def pending_install(session: Session, platform: str, nonce: str, *,
                    at: datetime | None = None) -> InstallNonce | None:
    """Return the pending (unused, unexpired) installation of a nonce without using it up."""
    if not nonce or len(nonce) > 200:
        return None
    return session.scalar(select(InstallNonce).where(
        InstallNonce.nonce_hash == _digest(nonce), InstallNonce.platform == platform,
        InstallNonce.used_at.is_(None), InstallNonce.expires_at > (at or now())))


def consume_nonce(session: Session, platform: str, nonce: str, *,
                  at: datetime | None = None) -> InstallNonce | None:
    """Mark a pending nonce used and return it; None if unknown, expired or already used."""
    at = at or now()
    if not nonce or len(nonce) > 200:
        return None
    digest = _digest(nonce)
    result = session.execute(
        update(InstallNonce)
        .where(InstallNonce.nonce_hash == digest, InstallNonce.platform == platform,
               InstallNonce.used_at.is_(None), InstallNonce.expires_at > at)
        .values(used_at=at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(InstallNonce).where(InstallNonce.nonce_hash == digest))


def purge_nonces(session: Session, *, at: datetime | None = None,
                 keep_used: timedelta = timedelta(days=1)) -> int:
    """Delete expired nonces (used ones a day after their use: the return page needs them)."""
    at = at or now()
    result = session.execute(delete(InstallNonce).where(
        (InstallNonce.expires_at <= at) & (InstallNonce.used_at.is_(None)
                                          | (InstallNonce.used_at <= at - keep_used))))
    return result.rowcount or 0  # type: ignore[attr-defined]


def completed_install(session: Session, platform: str, nonce: str) -> InstallNonce | None:
    """Return the installation a nonce belongs to once its credentials arrived, else None."""
    if not nonce or len(nonce) > 200:
        return None
    return session.scalar(select(InstallNonce).where(
        InstallNonce.nonce_hash == _digest(nonce), InstallNonce.platform == platform,
        InstallNonce.used_at.is_not(None)))
