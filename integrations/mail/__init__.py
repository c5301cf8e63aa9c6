"""Outgoing mail behind the ``Mailer`` Protocol: SMTP in production, a local mailbox in the demo."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "text/calendar; method=PUBLISH"
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    """One message to one person. ``key`` names the logical message (kind and recipient); it
    seeds the Message-ID's left part, which also carries a timestamp and a random part."""

    to: str
    subject: str
    text: str
    key: str
    language: str = "fr"
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


class MailError(Exception):
    """The message was not accepted. ``retryable`` says whether trying later can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class MailServerUnavailable(MailError):
    """The mail server could not be reached, timed out, or said it is closing (421): every
    message would fail alike until it is back, so senders wait for it rather than count this
    against the message (the job gate's ``message``/``retryable``/``retry_at``/``status``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)
        self.status: int | None = None  # an HTTP status, for the gate: SMTP has none
        self.retry_at: dt.datetime | None = None


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


def build_message(mail: OutgoingMail, sender: str, domain: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=mail.key.replace("@", "-"), domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        subtype, _, params = subtype.partition(";")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype.strip(),
            filename=attachment.filename,
            params=dict(p.strip().split("=", 1) for p in params.split(";") if "=" in p),
        )
    # set last: adding an attachment turns the message multipart and drops content headers
    message["Content-Language"] = mail.language
    return message
