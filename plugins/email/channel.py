"""The ``email`` channel: one message per treatment member over SMTP, German or English.

Each message has a plain-text and an HTML part with the member's own code, the offer and its
last day, a signed unsubscribe link, and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post``
headers (RFC 2369, RFC 8058 one-click). Messages go out one at a time at most
``rate_per_minute`` per minute over one SMTP connection; each is claimed before it is sent, so a
crash can leave at most the one in flight unknown, and it is never sent twice.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, ClassVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from stammkunde.core.errors import UserError
from stammkunde.plugins.channels import (
    Channel,
    DeliveryResult,
    OfferMessage,
    SendJob,
    expiry_text,
)
from stammkunde.plugins.email.settings import EmailSettings, load_email_settings
from stammkunde.plugins.email.unsubscribe import make_token, unsubscribe_url

TEMPLATES = Path(__file__).with_name("templates")
SUBJECT = {"de": "Ihr persönlicher Gutschein bei {shop}: {offer}",
           "en": "Your personal code for {shop}: {offer}"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, keep_trailing_newline=True)


def render(job: SendJob, settings: EmailSettings, m: OfferMessage) -> EmailMessage:
    """Return the e-mail for one member: headers, plain text and HTML."""
    if not m.email:
        raise ValueError("no e-mail address")
    link = unsubscribe_url(settings.public_url,
                           make_token(job.secret_key, job.shop_id, m.person_id, m.campaign_id))
    values: dict[str, Any] = {
        "first_name": m.first_name, "shop": settings.sender_name, "code": m.code,
        "offer": m.offer_text, "expires": expiry_text(m.locale, m.expires_at, job.shop.timezone),
        "unsubscribe_url": link,
    }
    msg = EmailMessage()
    msg["Subject"] = SUBJECT[m.locale].format(shop=settings.sender_name, offer=m.offer_text)
    msg["From"] = settings.sender
    msg["To"] = formataddr((m.first_name or "", m.email))
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(idstring=f"sk{m.campaign_id}.{m.key}", domain=domain)
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["List-Unsubscribe"] = f"<{link}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Stammkunde-Campaign"] = str(m.campaign_id)
    msg.set_content(_env.get_template(f"offer_{m.locale}.txt").render(values))
    msg.add_alternative(_env.get_template(f"offer_{m.locale}.html").render(values),
                        subtype="html")
    msg["Content-Language"] = m.locale  # after the parts: multipart moves Content-* into them
    return msg


class EmailChannel(Channel):
    """Offer e-mails over SMTP, configured in the ``[email]`` table of ``stammkunde.toml``."""

    name: ClassVar[str] = "email"
    description: ClassVar[str] = "E-mail over SMTP ([email] in stammkunde.toml)"
    batch_size: ClassVar[int] = 1  # claimed one by one: a crash leaves at most one unknown
    resend_interrupted: ClassVar[bool] = False
    needs_consent: ClassVar[bool] = True
    needs_email: ClassVar[bool] = True

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep

    def check(self, job: SendJob) -> None:
        """Refuse without an ``[email]`` table or a secret key (unsubscribe links are signed)."""
        load_email_settings(job.home, job.env)
        if not job.secret_key:
            raise UserError("STAMMKUNDE_SECRET_KEY is not set: it signs the unsubscribe links; "
                            "nothing was sent")

    def _connect(self, s: EmailSettings) -> smtplib.SMTP:
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.username and s.password is not None:
                smtp.login(s.username, s.password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            raise UserError(f"the SMTP server {s.host}:{s.port} refused the login of "
                            f"{s.username!r} ({exc.smtp_code}); nothing was sent") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise UserError(f"cannot use the SMTP server {s.host}:{s.port}: {exc}; "
                            "nothing was sent") from None
        return smtp

    def send(self, job: SendJob, batches: Iterator[Sequence[OfferMessage]]) \
            -> Iterator[DeliveryResult]:
        """Send each message over one connection, at most ``rate_per_minute`` per minute."""
        settings = load_email_settings(job.home, job.env)
        interval = 60.0 / settings.rate_per_minute
        smtp = self._connect(settings)
        last: float | None = None
        try:
            for batch in batches:
                for m in batch:
                    if last is not None:
                        wait = last + interval - self.clock()
                        if wait > 0:
                            self.sleep(wait)
                    last = self.clock()
                    yield self._send_one(smtp, job, settings, m)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _send_one(self, smtp: smtplib.SMTP, job: SendJob, settings: EmailSettings,
                  m: OfferMessage) -> DeliveryResult:
        message = render(job, settings, m)
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else "?"
            return DeliveryResult(m.key, "failed", f"recipient refused by the server ({code})")
        except smtplib.SMTPDataError as exc:
            return DeliveryResult(m.key, "failed", f"message refused by the server "
                                                   f"({exc.smtp_code})")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise UserError(f"lost the SMTP server {settings.host}:{settings.port} while "
                            f"sending ({exc}); run the send again to continue") from None
        return DeliveryResult(m.key, "sent")
