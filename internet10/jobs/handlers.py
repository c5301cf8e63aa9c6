"""The registry of job kinds the worker knows. Each issue that adds background work adds here."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from integrations.google import CalendarPublisher, LiveStreamProvider
from integrations.mail import Attachment, Mailer, MailError, OutgoingMail
from integrations.zoom import MeetingProvider
from integrations.zoom.adapter import ZoomMeetings
from internet10.db import Database
from internet10.i18n import render_mail
from internet10.jobs.gate import ProviderGate
from internet10.jobs.google_jobs import google_handlers
from internet10.jobs.pacing import RedisPacer
from internet10.jobs.worker import Handler, PermanentJobError, RetryLater
from internet10.models import Event
from internet10.services import (
    attendance,
    attendance_figures,
    attendee_mail,
    auth,
    calendar,
    google_sync,
    meetings,
    notifications,
    reminders,
)
from internet10.services.attendee_mail import Letter, NoLetter, NotYet, Undeliverable
from internet10.settings import Settings
from internet10.state import utcnow

log = logging.getLogger(__name__)

MAIL_CALLS_PER_SECOND = 100.0  # unpaced (``paced=False``); the gate only needs a figure


def build_handlers(
    settings: Settings,
    database: Database,
    mailer: Mailer,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    meeting_provider: MeetingProvider | None = None,
    calendar_publisher: CalendarPublisher | None = None,
    live_stream_provider: LiveStreamProvider | None = None,
    redis: Redis | None = None,
) -> dict[str, Handler]:
    """With ``redis``, Zoom calls are paced for every worker together (``jobs.pacing``)."""
    base_url = settings.base_url_str
    google = google_sync.policy_for(settings)
    provider = meeting_provider or zoom_from_settings(settings)
    pacer = None if redis is None else RedisPacer(redis, "zoom", settings.zoom_calls_per_second)
    gate = ProviderGate("Zoom", settings.zoom_calls_per_second, clock=clock, pacer=pacer)

    # The mail server down: mail waits for it (no attempt spent) instead of failing after
    # max_attempts; one message refused is retried, or failed, on its own.
    mail_gate = ProviderGate("SMTP", MAIL_CALLS_PER_SECOND, clock=clock)

    def zoom() -> MeetingProvider:
        if provider is None:
            raise PermanentJobError("Zoom is not configured (INTERNET10_ZOOM_ACCOUNT_ID ...)")
        return provider

    async def send(mail: OutgoingMail) -> None:
        try:
            await mail_gate.call(lambda: mailer.send(mail), paced=False)
        except MailError as exc:
            if not exc.retryable:
                raise PermanentJobError(str(exc)) from None
            raise

    async def programme_changed(payload: dict[str, Any]) -> None:
        now = clock()
        async with database.write() as db:
            await notifications.fan_out(
                db,
                int(payload["event_id"]),
                int(payload["sequence"]),
                payload.get("chapter_ids"),
                now=now,
            )
            await reminders.reschedule(db, int(payload["event_id"]), now=now)
            event = await db.get(Event, int(payload["event_id"]))
            if event is not None:  # the changed programme on Google Calendar
                await google_sync.programme_changed(db, event, google, now=now)

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
        await send(mail)

    async def deliver(letter: Letter) -> None:
        subject, text = render_mail(letter.template, letter.language, **letter.context)
        attachments: tuple[Attachment, ...] = ()
        if letter.ics is not None:
            attachments = (
                Attachment(attendee_mail.ICS_FILENAME, attendee_mail.ICS_CONTENT_TYPE, letter.ics),
            )
        mail = OutgoingMail(
            to=letter.to,
            subject=subject,
            text=text,
            language=letter.language,
            key=letter.key,
            attachments=attachments,
        )
        await send(mail)

    async def registration_mail(payload: dict[str, Any]) -> None:
        registration_id, kind = int(payload["registration_id"]), str(payload["kind"])
        try:
            async with database.write() as db:  # write: the letter's personal link is issued
                letter = await attendee_mail.registration_letter(
                    db, registration_id, kind, base_url=base_url, now=clock()
                )
        except Undeliverable as exc:
            raise PermanentJobError(str(exc)) from None
        if isinstance(letter, NoLetter):
            log.info("%s mail for %s not sent: %s", kind, registration_id, letter.reason)
            return
        await deliver(letter)

    async def registration_reminder(payload: dict[str, Any]) -> None:
        registration_id, which = int(payload["registration_id"]), str(payload["which"])
        async with database.write() as db:  # write: the letter's personal link is issued
            letter = await attendee_mail.reminder_letter(
                db, registration_id, which, base_url=base_url, now=clock()
            )
        if isinstance(letter, NotYet):
            raise RetryLater(letter.reason, not_before=letter.not_before)
        if isinstance(letter, NoLetter):
            log.info("reminder %s for %s not sent: %s", which, registration_id, letter.reason)
            return
        await deliver(letter)

    async def password_reset(payload: dict[str, Any]) -> None:
        language = str(payload.get("language", "fr"))
        async with database.write() as db:  # write: the link is issued here, never in a payload
            link = await auth.issue_reset_link(db, int(payload["user_id"]), now=clock())
        if link is None:
            log.info("no password reset mail for user %s: gone or disabled", payload["user_id"])
            return
        subject, text = render_mail(
            "password_reset.txt",
            language,
            name=link.name,
            url=f"{base_url}/login/reset/{link.token}",
            minutes=int(auth.RESET_LINK_TTL.total_seconds() // 60),
        )
        await send(
            OutgoingMail(
                to=link.email,
                subject=subject,
                text=text,
                language=language,
                key=f"password-reset-{link.token_id}",
            )
        )

    async def zoom_webhook(payload: dict[str, Any]) -> None:
        async with database.write() as db:
            now = clock()
            changed = await attendance.process_delivery(db, int(payload["delivery_id"]), now=now)
            for event_id in changed:
                await attendance_figures.announce(
                    db, event_id, now=now, min_minutes=settings.attendance_min_minutes
                )

    async def meeting_sync(payload: dict[str, Any]) -> None:
        event_id, chosen = int(payload["event_id"]), zoom()
        done = await gate.call(
            lambda: meetings.sync_meeting(database, chosen, event_id, now=clock())
        )
        log.info("meeting of event %s: %s", event_id, done)

    async def meeting_registrant(payload: dict[str, Any]) -> None:
        registration_id, chosen = int(payload["registration_id"]), zoom()
        await gate.call(
            lambda: meetings.sync_registrant(database, chosen, registration_id, now=clock())
        )

    async def meeting_reconcile(payload: dict[str, Any]) -> None:
        event_id, uuid, chosen = int(payload["event_id"]), str(payload["meeting_uuid"]), zoom()
        added = await gate.call(
            lambda: meetings.reconcile(
                database,
                chosen,
                event_id,
                uuid,
                now=clock(),
                min_minutes=settings.attendance_min_minutes,
            )
        )
        log.info("participants report of event %s: %d spans webhooks missed", event_id, added)

    return {
        meetings.SYNC_JOB: meeting_sync,
        meetings.REGISTRANT_JOB: meeting_registrant,
        meetings.RECONCILE_JOB: meeting_reconcile,
        "programme.changed": programme_changed,
        "mail.send": send_mail,
        "registration.mail": registration_mail,
        "registration.reminder": registration_reminder,
        auth.RESET_JOB: password_reset,
        attendance.JOB_KIND: zoom_webhook,
        **google_handlers(
            settings,
            database,
            clock=clock,
            zoom=zoom,
            zoom_gate=gate,
            calendar_publisher=calendar_publisher,
            live_stream_provider=live_stream_provider,
        ),
    }


def zoom_from_settings(settings: Settings) -> MeetingProvider | None:
    if not (settings.zoom_account_id and settings.zoom_client_id and settings.zoom_client_secret):
        return None
    return ZoomMeetings(
        settings.zoom_account_id,
        settings.zoom_client_id,
        settings.zoom_client_secret,
        str(settings.zoom_api_url).rstrip("/"),
        str(settings.zoom_oauth_url),
    )
