"""iCalendar feeds: stable UIDs, SEQUENCE rising with changes, UTC times, public links only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from icalendar import Calendar
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Chapter, Slot
from tests.api.test_events import I10, create
from tests.conftest import Staff

pytestmark = pytest.mark.integration


async def feed(client: Client, path: str) -> list[Any]:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(await response.get_data())
    return list(calendar.walk("VEVENT"))


async def test_event_feed_has_the_session_and_every_slot(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    items = await feed(client, f"/events/{event['id']}/calendar.ics")
    assert len(items) == 11
    session = items[0]
    assert str(session["uid"]) == f"event-{event['id']}@internet10"
    assert session["dtstart"].dt == dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)
    assert session["dtend"].dt == dt.datetime(2026, 12, 19, 16, 30, tzinfo=dt.UTC)
    assert int(session["sequence"]) == 1
    assert str(session["url"]) == f"http://testserver/events/{event['id']}"
    assert str(items[1]["summary"]) == "Internet10 2026 · #1"


async def test_change_keeps_uids_and_raises_sequence(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    before = await feed(client, f"/events/{event['id']}/calendar.ics")
    await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-19T14:00:00+01:00"},
        headers=organiser.headers,
    )
    after = await feed(client, f"/events/{event['id']}/calendar.ics")
    assert [str(i["uid"]) for i in after] == [str(i["uid"]) for i in before]
    assert {int(i["sequence"]) for i in after} == {2}
    assert after[1]["dtstart"].dt == dt.datetime(2026, 12, 19, 13, 15, tzinfo=dt.UTC)
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    cancelled = await feed(client, f"/events/{event['id']}/calendar.ics")
    assert {str(i["status"]) for i in cancelled} == {"CANCELLED"}
    assert {int(i["sequence"]) for i in cancelled} == {3}


async def test_draft_feed_is_hidden(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, I10)
    assert (await client.get(f"/events/{event['id']}/calendar.ics")).status_code == 404


async def test_chapter_feed_lists_its_slots(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    async with database.write() as db:
        chapter = Chapter(
            code="NP",
            name="ISOC Nepal",
            country="NP",
            timezone="Asia/Kathmandu",
            languages=["en"],
            created_at=now,
        )
        db.add(chapter)
        await db.flush()
        from sqlalchemy import select

        slot = await db.scalar(select(Slot).where(Slot.event_id == event["id"], Slot.position == 3))
        assert slot is not None
        slot.chapter_id, slot.title = chapter.id, "Shutdowns in the Himalaya"
    items = await feed(client, "/chapters/np/calendar.ics")
    assert [str(i["summary"]) for i in items] == [
        "Internet10 2026 · ISOC Nepal — Shutdowns in the Himalaya"
    ]
    assert items[0]["dtstart"].dt == dt.datetime(2026, 12, 19, 13, 1, tzinfo=dt.UTC)
    assert (await client.get("/chapters/zz/calendar.ics")).status_code == 404


async def test_event_page_shows_times_in_the_viewers_zone(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    default = await (await client.get(f"/events/{event['id']}?lang=en")).get_data(as_text=True)
    assert "<td>1:15\u202fPM</td>" in default  # the event's zone (Porto-Novo)
    chosen = await client.get(f"/events/{event['id']}?lang=en&tz=Asia/Kathmandu")
    html = await chosen.get_data(as_text=True)
    assert "<td>6:00\u202fPM</td>" in html  # 12:15 UTC in Kathmandu (UTC+5:45)
    assert "tz=Asia/Kathmandu" in chosen.headers.get("Set-Cookie", "")
    remembered = await (await client.get(f"/events/{event['id']}?lang=en")).get_data(as_text=True)
    assert "<td>6:00\u202fPM</td>" in remembered
    bogus = await client.get(f"/events/{event['id']}?lang=en&tz=Nowhere/Land")
    assert bogus.status_code == 200
