"""The hub door: search and check in, scan a code, walk-ins, and who may do it."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.db import Database
from internet10.errors import Conflict, ValidationFailed
from internet10.models import AttendanceInterval, LiveEvent, Registration, Role
from internet10.services import auth, checkin
from internet10.services.registration import Applicant
from tests.api.test_events import HUB
from tests.attendee.conftest import PASSWORD, enrol, published, sign_in
from tests.clock import Clock
from tests.conftest import SECRET, HTTPSClient, Staff, make_staff

pytestmark = pytest.mark.integration


async def _coordinator(database: Database, hub: int, now: dt.datetime) -> Staff:
    return await make_staff(
        database,
        f"coord{hub}@example.org",
        Role.HUB_COORDINATOR,
        now=now,
        password=PASSWORD,
        event_id=hub,
    )


async def _arrivals(database: Database) -> list[tuple[int | None, str, str, str | None]]:
    async with database.read() as db:
        rows = await db.scalars(select(AttendanceInterval).order_by(AttendanceInterval.id))
        return [(r.registration_id, r.source, r.participant_key, r.email) for r in rows]


async def _checked_in(database: Database, registration_id: int) -> dt.datetime | None:
    async with database.read() as db:
        reg = await db.get(Registration, registration_id)
    assert reg is not None
    return reg.checked_in_at


def test_checkin_code_names_its_registration_and_resists_forgery() -> None:
    code = checkin.checkin_code(SECRET, 42)
    assert re.fullmatch(r"I10-42-[0-9A-F]{20}", code)
    assert checkin.registration_of_code(SECRET, code) == 42
    assert checkin.registration_of_code(SECRET, f"  {code.lower()}\n") == 42  # as a reader types
    forged = code.replace("I10-42-", "I10-43-")
    for bad in (forged, code[:-1], "I10-42", "", checkin.checkin_code("another-secret" * 3, 42)):
        with pytest.raises(ValidationFailed) as refused:
            checkin.registration_of_code(SECRET, bad)
        assert refused.value.field == "code"


def test_search_folds_case_and_accents() -> None:
    assert checkin.folded("Adéla ÇAKIR Ñuñez") == "adela cakir nunez"


async def test_search_is_case_and_accent_insensitive_with_the_room_first(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB)
    online = await enrol(database, hub, "Adela Online", "adela@example.org", now=now)
    room = await enrol(
        database, hub, "Adéla Zinsou", "zinsou@example.org", now=now, mode="in_person"
    )
    await enrol(database, hub, "Kossi Agbo", "kossi@example.org", now=now, mode="in_person")
    coordinator = await _coordinator(database, hub, now)
    await sign_in(https, coordinator.email)
    page = await https.get(f"/hubs/{hub}/checkin?q=ADELA&lang=en")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert re.findall(r'<tr data-registration="(\d+)">', html) == [
        str(room.registration.id),
        str(online.registration.id),
    ]
    assert "<script" not in html
    assert f'<form method="post" action="/hubs/{hub}/checkin/code">' in html


async def test_check_in_from_the_search_happens_once(
    https: HTTPSClient,
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    clock: Clock,
) -> None:
    hub = await published(client, organiser, HUB)
    place = await enrol(
        database, hub, "Adéla Zinsou", "zinsou@example.org", now=now, mode="in_person"
    )
    rid = place.registration.id
    coordinator = await _coordinator(database, hub, now)
    token = await sign_in(https, coordinator.email)

    done = await https.post(f"/hubs/{hub}/checkin/{rid}", form={"csrf_token": token, "q": "adela"})
    assert done.status_code == 302
    assert done.headers["Location"] == f"/hubs/{hub}/checkin?done=checked-in&r={rid}&q=adela"
    page = await (await https.get(done.headers["Location"] + "&lang=en")).get_data(as_text=True)
    assert "Adéla Zinsou is checked in." in page
    assert "Checked in at 10:00\u202fAM" in page  # the hub's time (UTC+1)
    assert await _checked_in(database, rid) == now
    assert await _arrivals(database) == [
        (rid, "checkin", f"registration:{rid}", "zinsou@example.org")
    ]

    clock.advance(minutes=25)
    again = await https.post(f"/hubs/{hub}/checkin/{rid}", form={"csrf_token": token})
    assert again.headers["Location"] == f"/hubs/{hub}/checkin?done=already&r={rid}"
    notice = await (await https.get(again.headers["Location"] + "&lang=en")).get_data(as_text=True)
    assert "Adéla Zinsou was already checked in at 10:00\u202fAM." in notice
    assert await _checked_in(database, rid) == now
    assert len(await _arrivals(database)) == 1
    # The room's count went live once, counts only (the hub starts in the future: present,
    # not yet attended).
    async with database.read() as db:
        told = [(r.kind, r.data) for r in await db.scalars(select(LiveEvent))]
    assert told == [
        (
            "attendance",
            {"attended": 0, "present_now": 1, "peak": 0, "target": 80, "progress": 0.0},
        )
    ]


async def test_check_in_by_scanned_code(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB)
    place = await enrol(database, hub, "Kossi Agbo", "kossi@example.org", now=now, mode="in_person")
    personal = await (await https.get(f"/me/{place.access_token}")).get_data(as_text=True)
    shown = re.search(r"<code>(I10-\d+-[0-9A-F]{20})</code>", personal)
    assert shown, "the personal page shows the check-in code"
    assert '<svg width="' in personal  # the QR code, drawn inline
    coordinator = await _coordinator(database, hub, now)
    token = await sign_in(https, coordinator.email)

    code = shown.group(1)
    forged = await https.post(
        f"/hubs/{hub}/checkin/code?lang=en",
        form={"csrf_token": token, "code": code[:-1] + ("0" if code[-1] != "0" else "1")},
    )
    assert forged.status_code == 422
    assert "This is not a valid check-in code." in await forged.get_data(as_text=True)
    assert await _checked_in(database, place.registration.id) is None

    scanned = await https.post(
        f"/hubs/{hub}/checkin/code", form={"csrf_token": token, "code": code.lower() + "\r\n"}
    )
    assert scanned.status_code == 302
    assert "done=checked-in" in scanned.headers["Location"]
    assert await _checked_in(database, place.registration.id) == now


async def test_code_from_another_hub_and_waitlisted_places_are_refused(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB | {"seats": 1})
    other = await published(client, organiser, HUB | {"title": "Hub IETF"})
    stranger = await enrol(database, other, "Awa", "awa@example.org", now=now, mode="in_person")
    await enrol(database, hub, "Kossi", "kossi@example.org", now=now, mode="in_person")
    waiting = await enrol(database, hub, "Yao", "yao@example.org", now=now, mode="in_person")
    token = await sign_in(https, organiser.email)

    elsewhere = await https.post(
        f"/hubs/{hub}/checkin/code?lang=en",
        form={"csrf_token": token, "code": checkin.checkin_code(SECRET, stranger.registration.id)},
    )
    assert elsewhere.status_code == 404
    assert 'data-code="NOT_FOUND"' in await elsewhere.get_data(as_text=True)
    refused = await https.post(
        f"/hubs/{hub}/checkin/{waiting.registration.id}", form={"csrf_token": token}
    )
    assert refused.status_code == 409
    assert 'data-code="REGISTRATION_WAITLISTED"' in await refused.get_data(as_text=True)
    assert await _arrivals(database) == []


async def test_walk_in_takes_a_free_seat_and_is_checked_in_then_the_room_is_full(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB | {"seats": 2})
    await enrol(database, hub, "Kossi", "kossi@example.org", now=now, mode="in_person")
    coordinator = await _coordinator(database, hub, now)
    token = await sign_in(https, coordinator.email)
    walk_in = {"csrf_token": token, "country": "BJ", "language": "fr"}

    incomplete = await https.post(
        f"/hubs/{hub}/walk-in?lang=en", form=walk_in | {"name": "Afi", "email": "nope"}
    )
    assert incomplete.status_code == 422
    assert re.findall(r'<p data-field="(\w+)">', await incomplete.get_data(as_text=True)) == [
        "email"
    ]

    done = await https.post(
        f"/hubs/{hub}/walk-in", form=walk_in | {"name": "Afi Dossou", "email": "afi@example.org"}
    )
    assert done.status_code == 302
    page = await (await https.get(done.headers["Location"] + "&lang=en")).get_data(as_text=True)
    assert "Afi Dossou is registered and checked in." in page
    assert "The room is full: no seat remains for a walk-in." in page
    async with database.read() as db:
        afi = await db.scalar(select(Registration).where(Registration.email == "afi@example.org"))
    assert afi is not None
    assert (afi.mode, afi.status, afi.checked_in_at) == ("in_person", "confirmed", now)
    assert await _arrivals(database) == [
        (afi.id, "checkin", f"registration:{afi.id}", "afi@example.org")
    ]

    full = await https.post(
        f"/hubs/{hub}/walk-in?lang=en",
        form=walk_in | {"name": "Late Comer", "email": "late@example.org"},
    )
    assert full.status_code == 409
    assert 'data-code="HUB_FULL"' in await full.get_data(as_text=True)
    async with database.read() as db:
        emails = (await db.scalars(select(Registration.email).order_by(Registration.id))).all()
    assert emails == ["kossi@example.org", "afi@example.org"]


async def test_only_this_hubs_coordinators_and_organisers_use_its_door(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB)
    other = await published(client, organiser, HUB | {"title": "Hub IETF"})
    place = await enrol(database, hub, "Kossi", "kossi@example.org", now=now, mode="in_person")
    assert (await https.get(f"/hubs/{hub}/checkin")).headers["Location"] == "/login"

    someone_else = await _coordinator(database, other, now)
    token = await sign_in(https, someone_else.email)
    assert (await https.get(f"/hubs/{hub}/checkin")).status_code == 403
    assert (await https.get(f"/hubs/{other}/checkin")).status_code == 200
    posted = await https.post(
        f"/hubs/{hub}/checkin/{place.registration.id}", form={"csrf_token": token}
    )
    assert posted.status_code == 403
    walk = await https.post(
        f"/hubs/{hub}/walk-in",
        form={
            "csrf_token": token,
            "name": "X",
            "email": "x@example.org",
            "country": "BJ",
            "language": "fr",
        },
    )
    assert walk.status_code == 403
    assert await _checked_in(database, place.registration.id) is None
    assert await _arrivals(database) == []


async def test_two_doors_scanning_the_same_code_at_once_check_in_once(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB)
    place = await enrol(database, hub, "Kossi", "kossi@example.org", now=now, mode="in_person")
    async with database.read() as db:
        principal = await auth.principal_for_user(db, organiser.user_id)
    code = checkin.checkin_code(SECRET, place.registration.id)

    async def scan() -> bool:
        async with database.write() as db:
            done = await checkin.check_in_by_code(db, principal, hub, code, secret=SECRET, now=now)
            return done.already

    assert sorted(await asyncio.gather(*(scan() for _ in range(5)))) == [
        False,
        True,
        True,
        True,
        True,
    ]
    assert len(await _arrivals(database)) == 1


async def test_walk_ins_at_once_never_take_more_seats_than_the_room_has(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    hub = await published(client, organiser, HUB | {"seats": 1})
    async with database.read() as db:
        principal = await auth.principal_for_user(db, organiser.user_id)

    async def walk_in(n: int) -> str:
        person = Applicant(f"Walk-in {n}", f"walk{n}@example.org", "BJ", "fr")
        try:
            async with database.write() as db:
                await checkin.walk_in(db, principal, hub, person, now=now)
        except Conflict as refused:
            return refused.code
        return "checked-in"

    outcomes = await asyncio.gather(*(walk_in(n) for n in range(4)))
    assert sorted(outcomes) == ["HUB_FULL", "HUB_FULL", "HUB_FULL", "checked-in"]
    assert len(await _arrivals(database)) == 1
