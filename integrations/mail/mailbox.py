"""The demo's local mailbox: messages are appended to a JSON-lines file instead of being sent,
and an organiser reads them on the ``/dev/mailbox`` page. A stand-in for SMTP, never used when
``INTERNET10_SMTP_URL`` is set."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from integrations.mail import OutgoingMail


@dataclass(frozen=True)
class StoredMail:
    key: str
    to: str
    subject: str
    text: str
    language: str
    stored_at: str
    attachments: tuple[tuple[str, str], ...]  # (filename, content type)


class FileMailbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def send(self, mail: OutgoingMail) -> None:
        record = {
            "key": mail.key,
            "to": mail.to,
            "subject": mail.subject,
            "text": mail.text,
            "language": mail.language,
            "stored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "data": base64.b64encode(a.data).decode("ascii"),
                }
                for a in mail.attachments
            ],
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)

    def read(self, limit: int = 200) -> list[StoredMail]:
        """The newest messages first."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()[-limit:]
        out = []
        for line in reversed(lines):
            item = json.loads(line)
            out.append(
                StoredMail(
                    key=item["key"],
                    to=item["to"],
                    subject=item["subject"],
                    text=item["text"],
                    language=item["language"],
                    stored_at=item["stored_at"],
                    attachments=tuple(
                        (a["filename"], a["content_type"]) for a in item["attachments"]
                    ),
                )
            )
        return out
