"""Attendees hear about their registration by real SMTP, in their language, once: confirmation,
waitlist, promotion, cancellation, their personal link, and reminders 24 h and 1 h before."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from typing import Any

import pytest
from icalendar import Calendar
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select, update

from integrations.mail.smtp import SMTPMailer
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import LEASE, Worker
from internet10.models import Event, Job
from internet10.settings import Settings
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import Staff
from tests.mail.conftest import Inbox

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)  # I10: 13:00 in Porto-Novo
DAY = dt.timedelta(hours=24)
HOUR = dt.timedelta(hours=1)
LINK = re.compile(r"http://testserver/me/(\S+)")


def worker(
    settings: Settings,
    database: Database,
    smtp_url: str,
    clock: Clock,
    *,
    worker_id: str = "w",
    batch_size: int = 10,
) -> Worker:
    mailer = SMTPMailer(smtp_url, "Internet10 <no-reply@internet10.test>", timeout=5)
    handlers = build_handlers(settings, database, mailer, clock=clock)
    return Worker(database, handlers, worker_id=worker_id, clock=clock, batch_size=batch_size)


async def published(client: Client, organiser: Staff, **changes: Any) -> dict[str, Any]:
    event = await create(client, organiser, I10 | changes)
    response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert response.status_code == 200
    return event


async def register(
    client: Client, event_id: int, name: str, email: str, language: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/events/{event_id}/registrations",
        json={"name": name, "email": email, "country": "BJ", "language": language},
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def token_in(message: EmailMessage) -> str:
    [token] = LINK.findall(text_of(message))
    assert isinstance(token, str)
    return token


def calendar_of(message: EmailMessage) -> Calendar:
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "internet10.ics"
    assert attachment.get_param("method") == "PUBLISH"
    return Calendar.from_ical(attachment.get_content())


def event_entry(message: EmailMessage) -> Any:
    return next(iter(calendar_of(message).walk("VEVENT")))


def starts_in(message: EmailMessage) -> dt.datetime:
    value = event_entry(message).decoded("dtstart")
    assert isinstance(value, dt.datetime)
    return value


def sent(inbox: Inbox) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in inbox.messages)


async def reminder_jobs(database: Database) -> list[tuple[int, str, str, dt.datetime]]:
    async with database.read() as db:
        jobs = (
            await db.scalars(
                select(Job).where(Job.kind == "registration.reminder").order_by(Job.id)
            )
        ).all()
    return [(j.payload["registration_id"], j.payload["which"], j.status, j.run_after) for j in jobs]


async def opens(client: Client, registration_id: int, token: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/registrations/{registration_id}", headers=bearer(token))
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def test_confirmed_and_waitlisted_get_their_mail_in_their_language(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser, capacity=1)
    awa = await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    john = await register(client, event["id"], "John", "john@example.org", "en")
    assert (awa["status"], john["status"], john["waitlist_position"]) == (
        "confirmed",
        "waitlisted",
        1,
    )
    assert await worker(settings, database, url, Clock(now)).drain() == 2
    assert sent(inbox) == [
        ("awa@example.bj", "Inscription confirmée : Internet10 2026"),
        ("john@example.org", "Waitlist: Internet10 2026"),
    ]

    [french] = inbox.to("awa@example.bj")
    token = token_in(french)
    assert token != awa["access_token"]  # a fresh link, issued when the mail left
    assert text_of(french) == (
        "Bonjour Awa,\n"
        "\n"
        "Votre place pour Internet10 2026 est confirmée.\n"
        "Il commence le samedi 19 décembre 2026, 13:00 (Africa/Porto-Novo).\n"
        "\n"
        "Votre lien personnel, pour consulter ou annuler votre inscription : "
        f"http://testserver/me/{token}\n"
        "Gardez-le pour vous : quiconque le possède peut gérer votre inscription.\n"
        "Le fichier de calendrier joint ajoute l’événement à votre agenda.\n"
        "\n"
        "-- \n"
        "Internet10\n"
    )
    assert (await opens(client, awa["id"], token))["status"] == "confirmed"
    assert starts_in(french) == START
    assert str(event_entry(french)["uid"]) == f"event-{event['id']}@internet10"

    [english] = inbox.to("john@example.org")
    text = text_of(english)
    assert "All places at Internet10 2026 are taken for now.\n" in text
    assert "You are number 1 on the waitlist.\n" in text
    assert "It starts on Saturday, December 19, 2026, 1:00\u202fPM (Africa/Porto-Novo).\n" in text
    seen = await opens(client, john["id"], token_in(english))
    assert (seen["status"], seen["waitlist_position"]) == ("waitlisted", 1)
    assert starts_in(english) == START
    # the waitlisted place has no reminders (yet): only the confirmed one does
    assert [(r, w) for r, w, _s, _t in await reminder_jobs(database)] == [
        (awa["id"], "24h"),
        (awa["id"], "1h"),
    ]


async def test_cancelling_mails_the_canceller_and_promotes_the_next_in_line(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser, capacity=1)
    awa = await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    john = await register(client, event["id"], "John", "john@example.org", "en")
    run = worker(settings, database, url, Clock(now))
    assert await run.drain() == 2
    cancelled = await client.delete(
        f"/api/v1/registrations/{awa['id']}", headers=bearer(awa["access_token"])
    )
    assert cancelled.status_code == 200
    assert await run.drain() == 2
    assert sent(inbox) == [
        ("awa@example.bj", "Inscription annulée : Internet10 2026"),
        ("awa@example.bj", "Inscription confirmée : Internet10 2026"),
        ("john@example.org", "A place freed up: Internet10 2026"),
        ("john@example.org", "Waitlist: Internet10 2026"),
    ]
    farewell = inbox.to("awa@example.bj")[1]
    assert text_of(farewell) == (
        "Bonjour Awa,\n"
        "\n"
        "Votre inscription à Internet10 2026 est annulée.\n"
        "Si vous avez ajouté l’événement à votre agenda, vous pouvez l’en retirer.\n"
        "\n"
        f"La page de l’événement : http://testserver/events/{event['id']}\n"
        "\n"
        "-- \n"
        "Internet10\n"
    )
    assert list(farewell.iter_attachments()) == []  # nothing to put back in a calendar
    promoted = inbox.to("john@example.org")[1]
    promotion = "A place freed up at Internet10 2026: your registration is now confirmed.\n"
    assert promotion in text_of(promoted)
    seen = await opens(client, john["id"], token_in(promoted))
    assert (seen["status"], seen["waitlist_position"]) == ("confirmed", None)
    assert starts_in(promoted) == START
    # the promoted place now has its reminders; the cancelled one keeps jobs that will send nothing
    assert [(r, w, s, t) for r, w, s, t in await reminder_jobs(database) if r == john["id"]] == [
        (john["id"], "24h", "pending", START - DAY),
        (john["id"], "1h", "pending", START - HOUR),
    ]


async def test_a_letter_overtaken_by_events_is_not_sent(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser, capacity=1)
    awa = await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    await register(client, event["id"], "John", "john@example.org", "en")
    await client.delete(f"/api/v1/registrations/{awa['id']}", headers=bearer(awa["access_token"]))
    # four letters wait; "confirmed" and "waitlisted" are no longer true when the worker runs
    assert await worker(settings, database, url, Clock(now)).drain() == 4
    assert sent(inbox) == [
        ("awa@example.bj", "Inscription annulée : Internet10 2026"),
        ("john@example.org", "A place freed up: Internet10 2026"),
    ]
    async with database.read() as db:
        statuses = (
            await db.scalars(select(Job.status).where(Job.kind == "registration.mail"))
        ).all()
    assert set(statuses) == {"done"}


async def test_registering_again_mails_a_fresh_personal_link(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    awa = await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    again = await client.post(
        f"/api/v1/events/{event['id']}/registrations",
        json={"name": "Awa", "email": "AWA@example.bj", "country": "BJ", "language": "en"},
    )
    assert again.status_code == 409
    assert await worker(settings, database, url, Clock(now)).drain() == 2
    assert sent(inbox) == [
        ("awa@example.bj", "Inscription confirmée : Internet10 2026"),
        ("awa@example.bj", "Votre lien personnel : Internet10 2026"),
    ]
    confirmation, link = inbox.to("awa@example.bj")
    text = text_of(link)
    assert text.startswith(
        "Bonjour Awa,\n\nQuelqu’un, sans doute vous, a essayé d’inscrire de nouveau cette adresse "
        "à Internet10 2026. Elle est déjà inscrite : voici son lien personnel.\n"
    )
    assert "\nVotre place pour Internet10 2026 est confirmée.\n" in text
    assert token_in(link) != token_in(confirmation)
    for token in (token_in(link), token_in(confirmation), awa["access_token"]):
        assert (await opens(client, awa["id"], token))["id"] == awa["id"]


async def test_mail_for_a_cancelled_event_fails_with_its_reason(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    await worker(settings, database, url, Clock(now)).drain()
    async with database.read() as db:
        [job] = (await db.scalars(select(Job).where(Job.kind == "registration.mail"))).all()
    assert (job.status, job.attempts, job.last_error) == (
        "failed",
        1,
        f"PermanentJobError: event {event['id']} is cancelled",
    )
    # the registrant hears of the cancellation from the programme-change mail instead
    assert sent(inbox) == [("awa@example.bj", "Changement de programme : Internet10 2026")]


async def test_reminders_go_out_once_each_at_their_time_in_each_language(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    john = await register(client, event["id"], "John", "john@example.org", "en")
    clock = Clock(now)
    run = worker(settings, database, url, clock)
    assert await run.drain() == 2  # the confirmations; reminders are not due

    clock.now = START - DAY
    assert await run.drain() == 2
    inbox.messages[:2] = []
    assert sent(inbox) == [
        ("awa@example.bj", "Rappel : Internet10 2026 commence dans 24 heures"),
        ("john@example.org", "Reminder: Internet10 2026 starts in 24 hours"),
    ]
    [english] = inbox.to("john@example.org")
    token = token_in(english)
    assert text_of(english) == (
        "Hello John,\n"
        "\n"
        "Internet10 2026 starts in 24 hours, on Saturday, December 19, 2026, 1:00\u202fPM "
        "(Africa/Porto-Novo).\n"
        "\n"
        f"Your personal link, to see or cancel your registration: http://testserver/me/{token}\n"
        "If you can no longer come, please cancel: your place goes to the next person on the "
        "waitlist.\n"
        "The attached calendar file adds the event to your calendar.\n"
        "\n"
        "-- \n"
        "Internet10\n"
    )
    assert (await opens(client, john["id"], token))["status"] == "confirmed"
    assert starts_in(english) == START
    assert await run.drain() == 0  # once
    assert {(w, s, t) for _r, w, s, t in await reminder_jobs(database)} == {
        ("24h", "done", START - DAY),
        ("1h", "pending", START - HOUR),  # the one-hour reminder waits for its time
    }

    clock.now = START - HOUR - dt.timedelta(minutes=30)
    assert await run.drain() == 0
    clock.now = START - HOUR
    assert await run.drain() == 2
    inbox.messages[:2] = []
    assert sent(inbox) == [
        ("awa@example.bj", "Rappel : Internet10 2026 commence dans une heure"),
        ("john@example.org", "Reminder: Internet10 2026 starts in one hour"),
    ]
    assert (
        "Internet10 2026 commence dans une heure, le samedi 19 décembre 2026, 13:00 "
        "(Africa/Porto-Novo).\n" in text_of(inbox.to("awa@example.bj")[0])
    )
    clock.now = START + HOUR
    assert await run.drain() == 0
    assert len(inbox.messages) == 2


async def test_a_worker_back_late_sends_only_the_reminder_still_true(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    await register(client, event["id"], "John", "john@example.org", "en")
    clock = Clock(START - dt.timedelta(minutes=30))  # no worker ran since the registration
    assert await worker(settings, database, url, clock).drain() == 3
    assert sent(inbox) == [
        ("john@example.org", "Registration confirmed: Internet10 2026"),
        ("john@example.org", "Reminder: Internet10 2026 starts in one hour"),
    ]


async def test_registering_less_than_a_day_before_schedules_only_the_hour_reminder(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, starts_at="2026-11-28T20:00:00+01:00")
    awa = await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    starts = dt.datetime(2026, 11, 28, 19, 0, tzinfo=dt.UTC)
    assert now > starts - DAY
    assert await reminder_jobs(database) == [(awa["id"], "1h", "pending", starts - HOUR)]


async def test_moving_the_event_later_moves_its_reminders(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    moved = await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-21T13:00:00+01:00"},
        headers=organiser.headers,
    )
    assert moved.status_code == 200
    later = START + 2 * DAY
    clock = Clock(now)
    run = worker(settings, database, url, clock)
    assert await run.drain() == 3  # confirmation, programme change, its mail
    assert {(w, t) for _r, w, _s, t in await reminder_jobs(database)} == {
        ("24h", later - DAY),
        ("1h", later - HOUR),
    }
    clock.now = START - DAY
    assert await run.drain() == 0
    clock.now = later - DAY
    assert await run.drain() == 1
    reminder = inbox.messages[-1]
    assert reminder["Subject"] == "Rappel : Internet10 2026 commence dans 24 heures"
    assert "le lundi 21 décembre 2026, 13:00 (Africa/Porto-Novo)" in text_of(reminder)
    assert starts_in(reminder) == later


async def test_moving_the_event_earlier_brings_its_reminders_forward(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-10T13:00:00+01:00"},
        headers=organiser.headers,
    )
    earlier = START - 9 * DAY
    clock = Clock(now)
    run = worker(settings, database, url, clock)
    await run.drain()
    clock.now = earlier - DAY
    assert await run.drain() == 1
    assert inbox.messages[-1]["Subject"] == "Rappel : Internet10 2026 commence dans 24 heures"
    assert "le jeudi 10 décembre 2026, 13:00" in text_of(inbox.messages[-1])


async def test_a_reminder_run_before_its_moved_time_waits_for_it(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    clock = Clock(now)
    run = worker(settings, database, url, clock)
    await run.drain()
    later = START + 2 * DAY
    async with database.write() as db:  # moved, and the reminder runs before anything else
        await db.execute(update(Event).where(Event.id == event["id"]).values(starts_at=later))
    clock.now = START - DAY
    assert await run.drain() == 1
    assert len(inbox.messages) == 1  # the confirmation only
    async with database.read() as db:
        job = await db.scalar(
            select(Job).where(Job.kind == "registration.reminder").order_by(Job.id)
        )
    assert job is not None
    assert (job.status, job.run_after, job.attempts, job.last_error) == (
        "pending",
        later - DAY,
        1,
        "RetryLater: the event moved: the 24h reminder is due at 2026-12-20 12:00:00+00:00",
    )
    clock.now = later - DAY
    assert await run.drain() == 2  # the 24h reminder is sent; the 1h one, also early, waits
    assert await run.drain() == 0
    assert {(w, s, t) for _r, w, s, t in await reminder_jobs(database)} == {
        ("24h", "done", later - DAY),
        ("1h", "pending", later - HOUR),
    }
    assert [m["Subject"] for m in inbox.messages[1:]] == [
        "Rappel : Internet10 2026 commence dans 24 heures"
    ]


async def test_cancelled_places_and_events_get_no_reminder(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    kept = await published(client, organiser)
    called_off = await published(client, organiser, title="Internet10 bis")
    await register(client, kept["id"], "Awa", "awa@example.bj", "fr")
    john = await register(client, kept["id"], "John", "john@example.org", "en")
    await register(client, called_off["id"], "Ama", "ama@example.org", "en")
    await client.delete(f"/api/v1/registrations/{john['id']}", headers=bearer(john["access_token"]))
    await client.post(f"/api/v1/events/{called_off['id']}/cancel", headers=organiser.headers)
    clock = Clock(now)
    run = worker(settings, database, url, clock)
    await run.drain()
    before = len(inbox.messages)
    for when in (START - DAY, START - HOUR):
        clock.now = when
        assert await run.drain() == 3
    assert [(m["To"], m["Subject"]) for m in inbox.messages[before:]] == [
        ("awa@example.bj", "Rappel : Internet10 2026 commence dans 24 heures"),
        ("awa@example.bj", "Rappel : Internet10 2026 commence dans une heure"),
    ]
    assert {s for _r, _w, s, _t in await reminder_jobs(database)} == {"done"}


async def test_worker_killed_mid_batch_still_sends_each_mail_once(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await published(client, organiser, capacity=3)
    people = [
        ("Awa", "awa@example.bj", "fr"),
        ("John", "john@example.org", "en"),
        ("Koffi", "koffi@example.bj", "fr"),
        ("Ama", "ama@example.org", "en"),
        ("Yao", "yao@example.bj", "fr"),
    ]
    for name, email, language in people:
        await register(client, event["id"], name, email, language)
    clock = Clock(now)
    first = worker(settings, database, url, clock, worker_id="first", batch_size=2)
    claimed = await first.claim()  # takes a batch of two...
    assert len(claimed) == 2
    await first.run_one(claimed[0])  # ...sends one, then the process is killed
    assert len(inbox.messages) == 1
    clock.now = now + LEASE + dt.timedelta(seconds=1)
    assert await worker(settings, database, url, clock, worker_id="second").drain() == 4
    assert sent(inbox) == [
        ("ama@example.org", "Waitlist: Internet10 2026"),
        ("awa@example.bj", "Inscription confirmée : Internet10 2026"),
        ("john@example.org", "Registration confirmed: Internet10 2026"),
        ("koffi@example.bj", "Inscription confirmée : Internet10 2026"),
        ("yao@example.bj", "Liste d’attente : Internet10 2026"),
    ]
    assert "Vous êtes numéro 2 sur la liste d’attente.\n" in text_of(inbox.to("yao@example.bj")[0])
