"""SMTP delivery with aiosmtplib (``smtp://user:pass@host:port`` or ``smtps://...``)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aiosmtplib

from integrations.mail import MailError, MailServerUnavailable, OutgoingMail, build_message

SERVICE_NOT_AVAILABLE = 421  # the server is closing the channel: it, not the message, is at fault


class SMTPMailer:
    def __init__(self, url: str, sender: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP address must look like smtp://user:pass@host:port")
        self.hostname = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.use_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout
        self.domain = self.hostname

    async def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, self.sender, self.domain)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                use_tls=self.use_tls,
                start_tls=None if not self.use_tls else False,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"recipient refused: {exc}", retryable=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == SERVICE_NOT_AVAILABLE:
                raise MailServerUnavailable(f"SMTP unavailable: {exc.code} {exc.message}") from None
            # 5xx answers are permanent (bad address, policy); 4xx are "try again later"
            raise MailError(f"SMTP {exc.code}: {exc.message}", retryable=exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailServerUnavailable(f"SMTP unavailable: {exc}") from None
