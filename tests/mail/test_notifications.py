"""Programme changes reach delegates and registrants by real SMTP, in their language, once."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import pytest
from icalendar import Calendar
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, update

from integrations.mail.smtp import SMTPMailer
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import LEASE, Worker
from internet10.models import Chapter, Job, Registration, Role, Slot, User
from internet10.settings import Settings
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import Staff, make_staff
from tests.mail.conftest import Inbox

pytestmark = pytest.mark.integration


async def setup_event(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, registrants: int = 2
) -> dict[str, Any]:
    """A published Internet10 with Benin's delegate booked in slot 2, and some registrants."""
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    async with database.write() as db:
        chapter = Chapter(
            code="BJ",
            name="ISOC Bénin",
            country="BJ",
            timezone="Africa/Porto-Novo",
            languages=["fr"],
            created_at=now,
        )
        db.add(chapter)
        await db.flush()
        await db.execute(
            update(Slot)
            .where(Slot.event_id == event["id"], Slot.position == 2)
            .values(chapter_id=chapter.id, title="Coupures d'Internet")
        )
        for i in range(registrants):
            db.add(
                Registration(
                    event_id=event["id"],
                    name=f"Ama {i}",
                    email=f"ama{i}@example.org",
                    country="GH",
                    language="en",
                    mode="online",
                    status="confirmed",
                    created_at=now,
                    updated_at=now,
                )
            )
    await make_staff(database, "delegue@example.bj", Role.DELEGATE, now=now, chapter_code="BJ")
    async with database.write() as db:
        await db.execute(
            update(User)
            .where(User.email == "delegue@example.bj")
            .values(name="Koffi", language="fr")
        )
    return event


def worker(
    settings: Settings, database: Database, smtp_url: str, clock: Clock, worker_id: str = "w"
) -> Worker:
    mailer = SMTPMailer(smtp_url, "Internet10 <no-reply@internet10.test>", timeout=5)
    handlers = build_handlers(settings, database, mailer, clock=clock)
    return Worker(database, handlers, worker_id=worker_id, clock=clock, batch_size=2)


async def test_time_change_mails_each_person_once_in_their_language(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await setup_event(client, organiser, database, now)
    await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-19T15:00:00+01:00"},
        headers=organiser.headers,
    )
    ran = await worker(settings, database, url, Clock(now)).drain()
    assert ran == 4  # one fan-out job, three mails
    assert sorted(m["To"] for m in inbox.messages) == [
        "ama0@example.org",
        "ama1@example.org",
        "delegue@example.bj",
    ]
    [french] = inbox.to("delegue@example.bj")
    assert french["Subject"] == "Changement de programme : Internet10 2026"
    body = french.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Bonjour Koffi," in text
    assert "Il commence désormais le samedi 19 décembre 2026, 15:00 (Africa/Porto-Novo)." in text
    assert "2. 15:38 ISOC Bénin — Coupures d'Internet" in text
    [english] = inbox.to("ama0@example.org")
    assert english["Subject"] == "Programme change: Internet10 2026"
    attachment = next(english.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    calendar = Calendar.from_ical(attachment.get_content())
    first = next(iter(calendar.walk("VEVENT")))
    assert first["dtstart"].dt == dt.datetime(2026, 12, 19, 14, 0, tzinfo=dt.UTC)
    assert int(first["sequence"]) == 2

    # Reporting the same change again sends nothing new.
    from internet10.models import Event
    from internet10.services.notifications import programme_changed

    async with database.write() as db:
        stored = await db.get(Event, event["id"])
        assert stored is not None
        await programme_changed(db, stored, chapter_ids=None, now=now)
    assert await worker(settings, database, url, Clock(now)).drain() == 0
    assert len(inbox.messages) == 3


async def test_drafts_notify_nobody(
    client: Client,
    organiser: Staff,
    database: Database,
) -> None:
    event = await create(client, organiser, I10)
    await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-19T15:00:00+01:00"},
        headers=organiser.headers,
    )
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    async with database.read() as db:
        assert await db.scalar(select(func.count()).select_from(Job)) == 0


async def test_worker_killed_mid_batch_still_sends_each_mail_once(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await setup_event(client, organiser, database, now, registrants=6)
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    clock = Clock(now)
    first = worker(settings, database, url, clock, worker_id="first")
    await first.run_pending()  # the fan-out: 7 mail jobs now wait
    claimed = await first.claim()  # takes a batch of two...
    await first.run_one(claimed[0])  # ...sends one, then the process is killed
    assert len(inbox.messages) == 1
    clock.now = now + LEASE + dt.timedelta(seconds=1)
    assert await worker(settings, database, url, clock, worker_id="second").drain() == 6
    addresses = [m["To"] for m in inbox.messages]
    assert sorted(addresses) == sorted({*addresses})
    assert len(addresses) == 7
    assert {m["Subject"] for m in inbox.to("delegue@example.bj")} == {
        "Changement de programme : Internet10 2026"
    }
    assert (
        "L’événement a été annulé."
        in inbox.to("delegue@example.bj")[0].get_body(("plain",)).get_content()
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_smtp_down_retries_then_delivers(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await setup_event(client, organiser, database, now, registrants=1)
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    clock = Clock(now)
    down = worker(settings, database, f"smtp://127.0.0.1:{_closed_port()}", clock)
    await down.drain()
    async with database.read() as db:
        pending = (await db.scalars(select(Job).where(Job.kind == "mail.send"))).all()
    # The server down spends no attempt: the mail waits for it (jobs.gate), however long.
    assert {(j.status, j.attempts) for j in pending} == {("pending", 0)}
    errors = sorted(j.last_error or "" for j in pending)
    assert errors[0].startswith("RetryLater: SMTP is unavailable until ")  # deferred
    assert errors[1].startswith("RetryLater: SMTP: SMTP unavailable: ")  # the one that tried
    clock.now = now + dt.timedelta(hours=2)
    assert await worker(settings, database, url, clock).drain() == 2
    assert sorted(m["To"] for m in inbox.messages) == ["ama0@example.org", "delegue@example.bj"]


async def test_accepted_swap_tells_both_chapters_and_the_registrants(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    smtp_server: tuple[str, Inbox],
) -> None:
    url, inbox = smtp_server
    event = await setup_event(client, organiser, database, now, registrants=1)
    async with database.write() as db:
        db.add(
            Chapter(
                code="KE",
                name="ISOC Kenya",
                country="KE",
                timezone="Africa/Nairobi",
                languages=["en"],
                created_at=now,
            )
        )
    kenya = await make_staff(
        database, "kenya@example.org", Role.DELEGATE, now=now, chapter_code="KE"
    )
    benin = await make_staff(
        database, "delegue@example.bj", Role.DELEGATE, now=now, chapter_code="BJ"
    )
    slots = (await (await client.get(f"/api/v1/events/{event['id']}/slots")).get_json())["slots"]
    booked = await client.post(
        f"/api/v1/slots/{slots[6]['id']}/booking",
        headers=kenya.headers,
        json={
            "title": "Net neutrality in Kenya",
            "language": "en",
            "speakers": [{"name": "Wanjiru", "email": "w@example.org"}],
        },
    )
    assert booked.status_code == 201
    proposed = await client.post(
        f"/api/v1/slots/{slots[1]['id']}/swaps",
        json={"to_slot_id": slots[6]["id"]},
        headers=benin.headers,
    )
    assert proposed.status_code == 201
    swap_id = (await proposed.get_json())["id"]
    assert (
        await client.post(f"/api/v1/swaps/{swap_id}/accept", headers=kenya.headers)
    ).status_code == 200
    await worker(settings, database, url, Clock(now)).drain()
    assert sorted(m["To"] for m in inbox.messages) == [
        "ama0@example.org",
        "delegue@example.bj",
        "kenya@example.org",
    ]
    text = inbox.to("kenya@example.org")[0].get_body(("plain",)).get_content()
    assert text.startswith("Bonjour,\r\n")  # no name on file: no dangling comma
    assert "2. 13:38 ISOC Kenya — Net neutrality in Kenya" in text
