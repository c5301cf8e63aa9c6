"""The registry of job kinds the worker knows. Each issue that adds background work adds here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from integrations.mail import Attachment, Mailer, MailError, OutgoingMail
from internet10.db import Database
from internet10.i18n import render_mail
from internet10.jobs.worker import Handler, PermanentJobError
from internet10.models import Event
from internet10.services import calendar, notifications
from internet10.settings import Settings
from internet10.state import utcnow


def build_handlers(
    settings: Settings,
    database: Database,
    mailer: Mailer,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> dict[str, Handler]:
    base_url = settings.base_url_str

    async def programme_changed(payload: dict[str, Any]) -> None:
        async with database.write() as db:
            await notifications.fan_out(
                db,
                int(payload["event_id"]),
                int(payload["sequence"]),
                payload.get("chapter_ids"),
                now=clock(),
            )

    async def send_mail(payload: dict[str, Any]) -> None:
        async with database.read() as db:
            event = await db.get(Event, int(payload["event_id"]))
            if event is None:
                raise PermanentJobError(f"event {payload['event_id']} no longer exists")
            language = str(payload["language"])
            lines = await notifications.programme_lines(db, event, language)
            ics = await calendar.event_feed(db, None, event.id, base_url=base_url)
        subject, text = render_mail(
            str(payload["template"]),
            language,
            event=event,
            name=payload["name"],
            zone=event.timezone,
            slots=lines,
            url=f"{base_url}/events/{event.id}",
        )
        mail = OutgoingMail(
            to=str(payload["to"]),
            subject=subject,
            text=text,
            language=language,
            key=f"{payload['template']}-{event.id}-{payload['sequence']}-{payload['to']}",
            attachments=(Attachment("internet10.ics", "text/calendar; method=PUBLISH", ics),),
        )
        try:
            await mailer.send(mail)
        except MailError as exc:
            if not exc.retryable:
                raise PermanentJobError(str(exc)) from None
            raise

    return {"programme.changed": programme_changed, "mail.send": send_mail}
