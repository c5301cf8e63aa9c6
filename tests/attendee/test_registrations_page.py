"""The organiser's registrations page: figures, the list, cancel and restore, the export link."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import event, select

from internet10.db import Database
from internet10.models import Registration, Role
from tests.api.test_events import HUB, I10
from tests.attendee.conftest import PASSWORD, enrol, published, sign_in
from tests.conftest import HTTPSClient, Staff, make_staff

pytestmark = pytest.mark.integration


@contextmanager
def counted(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-registration="(\d+)" data-status="(\w+)">', html)


async def test_organiser_sees_the_figures_and_the_list_with_waitlist_places(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB | {"capacity": 1, "seats": 1})
    places = [
        await enrol(database, hub, "Kossi", "kossi@example.org", now=now),
        await enrol(database, hub, "Awa", "awa@example.org", now=now),
        await enrol(database, hub, "Afi", "afi@example.org", now=now, mode="in_person"),
        await enrol(database, hub, "Yao", "yao@example.org", now=now, mode="in_person"),
    ]
    ids = [str(p.registration.id) for p in places]
    await sign_in(https, organiser.email)
    page = await https.get(f"/organiser/events/{hub}/registrations?lang=en")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    figures = dict(re.findall(r'<dd data-figure="([\w-]+)">([^<]*)</dd>', html))
    assert figures == {
        "capacity": "1",
        "confirmed": "2",
        "waitlisted": "2",
        "cancelled": "0",
        "seats": "1 / 1",
        "checked-in": "0",
    }
    assert _rows(html) == [
        (ids[0], "confirmed"),
        (ids[1], "waitlisted"),
        (ids[2], "confirmed"),
        (ids[3], "waitlisted"),
    ]
    assert html.count("On the waitlist, position 1") == 2  # one waitlist per mode
    assert f'href="/api/v1/events/{hub}/registrations.csv"' in html
    waiting = await https.get(f"/organiser/events/{hub}/registrations?status=waitlisted")
    assert _rows(await waiting.get_data(as_text=True)) == [
        (ids[1], "waitlisted"),
        (ids[3], "waitlisted"),
    ]


async def test_organiser_cancels_and_restores_through_the_services(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event_id = await published(client, organiser, I10 | {"capacity": 1})
    first = await enrol(database, event_id, "Kossi", "kossi@example.org", now=now)
    second = await enrol(database, event_id, "Awa", "awa@example.org", now=now)
    token = await sign_in(https, organiser.email)
    base = f"/organiser/events/{event_id}/registrations"

    cancelled = await https.post(
        f"{base}/{first.registration.id}/cancel", form={"csrf_token": token}
    )
    assert cancelled.headers["Location"] == f"{base}?done=cancel"
    html = await (await https.get(f"{base}?done=cancel&lang=en")).get_data(as_text=True)
    assert "the next person on the waitlist has been given the place" in html
    assert _rows(html) == [
        (str(first.registration.id), "cancelled"),
        (str(second.registration.id), "confirmed"),
    ]

    restored = await https.post(
        f"{base}/{first.registration.id}/restore", form={"csrf_token": token}
    )
    assert restored.headers["Location"] == f"{base}?done=restore"
    async with database.read() as db:
        rows = (await db.execute(select(Registration.id, Registration.status))).all()
    assert sorted(rows) == [
        (first.registration.id, "waitlisted"),  # the place went to the next person meanwhile
        (second.registration.id, "confirmed"),
    ]
    twice = await https.post(
        f"{base}/{second.registration.id}/restore?lang=en", form={"csrf_token": token}
    )
    assert twice.status_code == 409
    assert "This registration is not cancelled." in await twice.get_data(as_text=True)
    unsigned = await https.post(f"{base}/{second.registration.id}/cancel")
    assert unsigned.status_code == 400


async def test_a_registration_of_another_event_is_not_found_here(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    one = await published(client, organiser, I10)
    other = await published(client, organiser, HUB)
    place = await enrol(database, other, "Kossi", "kossi@example.org", now=now)
    token = await sign_in(https, organiser.email)
    wrong = await https.post(
        f"/organiser/events/{one}/registrations/{place.registration.id}/cancel",
        form={"csrf_token": token},
    )
    assert wrong.status_code == 404
    async with database.read() as db:
        assert await db.scalar(select(Registration.status)) == "confirmed"


async def test_registrations_page_is_for_organisers(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB)
    assert (await https.get(f"/organiser/events/{hub}/registrations")).headers[
        "Location"
    ] == "/login"
    coordinator = await make_staff(
        database,
        "coord@example.org",
        Role.HUB_COORDINATOR,
        now=now,
        password=PASSWORD,
        event_id=hub,
    )
    await sign_in(https, coordinator.email)
    assert (await https.get(f"/organiser/events/{hub}/registrations")).status_code == 403


async def test_registrations_page_queries_do_not_grow_with_the_list(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event_id = await published(client, organiser, I10 | {"capacity": 1})
    await sign_in(https, organiser.email)
    path = f"/organiser/events/{event_id}/registrations"
    await enrol(database, event_id, "One", "one@example.org", now=now)
    await https.get(path)  # warm caches (the signed-in user, templates)
    with counted(database) as at_one:
        assert (await https.get(path)).status_code == 200
    await enrol(database, event_id, "Two", "two@example.org", now=now)
    await enrol(database, event_id, "Three", "three@example.org", now=now)
    with counted(database) as at_three:
        assert (await https.get(path)).status_code == 200
    assert len(at_three) == len(at_one) > 0
