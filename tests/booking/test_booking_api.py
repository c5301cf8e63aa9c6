"""The slots API: chapters book, edit, cancel and swap; organisers approve, assign and move."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import event as sa_event
from sqlalchemy import select

from internet10.db import Database
from internet10.errors import Conflict
from internet10.models import Chapter, Event, Role, Slot
from internet10.services import booking
from tests.api.test_events import I10, create
from tests.conftest import Staff, make_staff

pytestmark = pytest.mark.integration

# Code, name, zone. Twenty chapters so the concurrency tests have twenty delegates.
CHAPTERS = (
    ("BJ", "ISOC Benin", "Africa/Porto-Novo"),
    ("SN", "ISOC Senegal", "Africa/Dakar"),
    ("KE", "ISOC Kenya", "Africa/Nairobi"),
    ("IN", "ISOC India Delhi", "Asia/Kolkata"),
    ("NP", "ISOC Nepal", "Asia/Kathmandu"),
    ("JP", "ISOC Japan", "Asia/Tokyo"),
    ("BR", "ISOC Brazil", "America/Sao_Paulo"),
    ("US", "ISOC New York", "America/New_York"),
    ("MU", "ISOC Mauritius", "Indian/Mauritius"),
    ("CM", "ISOC Cameroon", "Africa/Douala"),
    ("TG", "ISOC Togo", "Africa/Lome"),
    ("CI", "ISOC Côte d'Ivoire", "Africa/Abidjan"),
    ("GH", "ISOC Ghana", "Africa/Accra"),
    ("NG", "ISOC Nigeria", "Africa/Lagos"),
    ("RW", "ISOC Rwanda", "Africa/Kigali"),
    ("FR", "ISOC France", "Europe/Paris"),
    ("CA", "ISOC Quebec", "America/Toronto"),
    ("HT", "ISOC Haiti", "America/Port-au-Prince"),
    ("MA", "ISOC Morocco", "Africa/Casablanca"),
    ("NZ", "ISOC New Zealand", "Pacific/Auckland"),
)

BOOKING: dict[str, Any] = {
    "title": "Coupures d'Internet au Bénin",
    "abstract": "Ce que les coupures de 2024 nous ont appris.",
    "language": "fr",
    "speakers": [{"name": "Afi Mensah", "email": "Afi@Example.org"}],
    "slides_url": "https://slides.example.org/bj",
}


async def add_chapters(database: Database, now: dt.datetime, count: int) -> None:
    async with database.write() as db:
        for code, name, zone in CHAPTERS[:count]:
            db.add(
                Chapter(
                    code=code,
                    name=name,
                    country=code,
                    timezone=zone,
                    languages=["fr", "en"],
                    created_at=now,
                )
            )


async def delegate(
    database: Database, now: dt.datetime, code: str, *, password: str | None = None
) -> Staff:
    return await make_staff(
        database,
        f"delegate.{code.lower()}@example.org",
        Role.DELEGATE,
        now=now,
        chapter_code=code,
        password=password,
    )


async def new_event(
    client: Client, organiser: Staff, *, publish: bool = True, **changes: Any
) -> dict[str, Any]:
    event = await create(client, organiser, I10 | changes)
    if publish:
        response = await client.post(
            f"/api/v1/events/{event['id']}/publish", headers=organiser.headers
        )
        assert response.status_code == 200
    return event


async def slots_of(client: Client, event_id: int, staff: Staff | None = None) -> list[Any]:
    headers = staff.headers if staff else {}
    response = await client.get(f"/api/v1/events/{event_id}/slots", headers=headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    slots: list[Any] = (await response.get_json())["slots"]
    return slots


async def book(
    client: Client, staff: Staff, slot_id: int, body: dict[str, Any] | None = None
) -> Any:
    return await client.post(
        f"/api/v1/slots/{slot_id}/booking", json=body or BOOKING, headers=staff.headers
    )


async def sequence(database: Database, event_id: int) -> int:
    async with database.read() as db:
        event = await db.get(Event, event_id)
        assert event is not None
        return event.sequence


@dataclass(frozen=True)
class World:
    event_id: int
    slots: list[int]
    bj: Staff
    sn: Staff
    ke: Staff
    organiser: Staff


@pytest.fixture
async def world(client: Client, organiser: Staff, database: Database, now: dt.datetime) -> World:
    await add_chapters(database, now, 3)
    event = await new_event(client, organiser)
    slots = [s["id"] for s in await slots_of(client, event["id"])]
    return World(
        event_id=event["id"],
        slots=slots,
        bj=await delegate(database, now, "BJ"),
        sn=await delegate(database, now, "SN"),
        ke=await delegate(database, now, "KE"),
        organiser=organiser,
    )


def booked_bj(slot_id: int, event_id: int, *, status: str = "booked") -> dict[str, Any]:
    """Slot 1 of the I10 event, booked by Benin with BOOKING, as its delegate sees it."""
    return {
        "id": slot_id,
        "event_id": event_id,
        "position": 1,
        "starts_at": "2026-12-19T12:15:00Z",
        "ends_at": "2026-12-19T12:38:00Z",
        "presentation_minutes": 15,
        "debate_minutes": 8,
        "status": status,
        "chapter": {"code": "BJ", "name": "ISOC Benin", "timezone": "Africa/Porto-Novo"},
        "presentation": {
            "title": "Coupures d'Internet au Bénin",
            "abstract": "Ce que les coupures de 2024 nous ont appris.",
            "language": "fr",
            "slides_url": "https://slides.example.org/bj",
            "speakers": [{"name": "Afi Mensah", "email": "afi@example.org"}],
        },
    }


# --- reading --------------------------------------------------------------------------------------


async def test_list_slots_of_a_new_event_shows_them_open_in_utc(
    client: Client, world: World
) -> None:
    slots = await slots_of(client, world.event_id)
    assert len(slots) == 10
    assert slots[0] == {
        "id": world.slots[0],
        "event_id": world.event_id,
        "position": 1,
        "starts_at": "2026-12-19T12:15:00Z",
        "ends_at": "2026-12-19T12:38:00Z",
        "presentation_minutes": 15,
        "debate_minutes": 8,
        "status": "open",
        "chapter": None,
        "presentation": None,
    }
    assert [s["position"] for s in slots] == list(range(1, 11))
    assert {s["status"] for s in slots} == {"open"}


async def test_slots_of_a_draft_are_hidden_from_the_public_but_not_from_delegates(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, 1)
    bj = await delegate(database, now, "BJ")
    event = await new_event(client, organiser, publish=False)
    anonymous = await client.get(f"/api/v1/events/{event['id']}/slots")
    assert anonymous.status_code == 404
    assert (await anonymous.get_json())["code"] == "NOT_FOUND"
    assert len(await slots_of(client, event["id"], bj)) == 10
    assert len(await slots_of(client, event["id"], organiser)) == 10


async def test_unknown_event_and_slot_are_404(client: Client, world: World) -> None:
    assert (await client.get("/api/v1/events/999/slots")).status_code == 404
    response = await book(client, world.bj, 99999)
    assert response.status_code == 404
    assert await response.get_json() == {"code": "NOT_FOUND", "message": "No slot with id 99999."}
    huge = "99999999999999999999"  # beyond the id columns' range: a 404, not a database error
    for method, path, body in [
        ("GET", f"/api/v1/events/{huge}/slots", None),
        ("GET", f"/api/v1/events/{huge}/swaps", None),
        ("POST", f"/api/v1/slots/{huge}/booking", BOOKING),
        ("PATCH", f"/api/v1/slots/{huge}/booking", {}),
        ("DELETE", f"/api/v1/slots/{huge}/booking", None),
        ("POST", f"/api/v1/slots/{huge}/swaps", {"to_slot_id": 1}),
        ("POST", f"/api/v1/swaps/{huge}/accept", None),
    ]:
        response = await client.open(path, method=method, json=body, headers=world.bj.headers)
        assert response.status_code == 404, (method, path)
        assert (await response.get_json())["code"] == "NOT_FOUND"


async def test_listing_slots_costs_the_same_statements_at_1_and_3_bookings(
    client: Client, world: World, database: Database
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    async def listed() -> int:
        statements.clear()
        sa_event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        try:
            await slots_of(client, world.event_id, world.organiser)
        finally:
            sa_event.remove(database.engine.sync_engine, "before_cursor_execute", count)
        return len(statements)

    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    one = await listed()
    assert (await book(client, world.sn, world.slots[1])).status_code == 201
    assert (await book(client, world.ke, world.slots[2])).status_code == 201
    assert await listed() == one


# --- booking --------------------------------------------------------------------------------------


async def test_book_slot_returns_the_booked_slot_and_bumps_the_sequence(
    client: Client, world: World, database: Database
) -> None:
    before = await sequence(database, world.event_id)
    response = await book(client, world.bj, world.slots[0])
    assert response.status_code == 201
    assert await response.get_json() == booked_bj(world.slots[0], world.event_id)
    assert await sequence(database, world.event_id) == before + 1
    async with database.read() as db:
        slot = await db.get(Slot, world.slots[0])
        assert slot is not None
        assert slot.booking_status == "confirmed"
        assert slot.booked_by_user_id == world.bj.user_id
        assert slot.booked_at == dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


async def test_speakers_are_shown_only_to_organisers_and_the_chapter(
    client: Client, world: World
) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    for staff in (None, world.sn):
        first = (await slots_of(client, world.event_id, staff))[0]
        assert first["presentation"]["title"] == "Coupures d'Internet au Bénin"
        assert first["presentation"]["speakers"] is None
    for staff in (world.bj, world.organiser):
        first = (await slots_of(client, world.event_id, staff))[0]
        assert first == booked_bj(world.slots[0], world.event_id)


async def test_taken_slot_is_409_slot_taken(client: Client, world: World) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    response = await book(client, world.sn, world.slots[0])
    assert response.status_code == 409
    assert await response.get_json() == {
        "code": "SLOT_TAKEN",
        "message": "Slot 1 is already booked.",
    }


async def test_chapter_holding_a_slot_cannot_book_another(client: Client, world: World) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    for slot_id in (world.slots[1], world.slots[0]):
        response = await book(client, world.bj, slot_id)
        assert response.status_code == 409
        assert await response.get_json() == {
            "code": "CHAPTER_ALREADY_BOOKED",
            "message": "This chapter already holds a slot in this event (slot 1).",
        }


async def test_the_unique_constraint_is_the_backstop_when_checks_are_skipped(
    world: World, database: Database, now: dt.datetime
) -> None:
    """Claim slots without the service's checks: the database refuses a second slot for a
    chapter and a taken slot, and the refusals are the 409s a client would get."""

    async def claim(slot_id: int, chapter_id: int) -> None:
        async with database.write() as db:
            slot = await db.get(Slot, slot_id)
            assert slot is not None
            await booking._claim(db, slot, {"chapter_id": chapter_id}, now=now)

    async with database.read() as db:
        bj = await db.scalar(select(Chapter.id).where(Chapter.code == "BJ"))
        sn = await db.scalar(select(Chapter.id).where(Chapter.code == "SN"))
    assert bj is not None
    assert sn is not None
    await claim(world.slots[0], bj)
    with pytest.raises(Conflict) as refused:
        await claim(world.slots[1], bj)
    assert refused.value.code == "CHAPTER_ALREADY_BOOKED"
    with pytest.raises(Conflict) as taken:
        await claim(world.slots[0], sn)
    assert taken.value.code == "SLOT_TAKEN"
    assert await held_by(database, world.event_id) == {1: bj}


async def held_by(database: Database, event_id: int) -> dict[int, int]:
    async with database.read() as db:
        rows = await db.execute(
            select(Slot.position, Slot.chapter_id).where(
                Slot.event_id == event_id, Slot.chapter_id.is_not(None)
            )
        )
        return {position: chapter for position, chapter in rows}


async def test_a_delegate_cannot_book_for_another_chapter(client: Client, world: World) -> None:
    response = await book(client, world.bj, world.slots[0], BOOKING | {"chapter": "SN"})
    assert response.status_code == 403
    assert (await response.get_json())["code"] == "FORBIDDEN"
    own = await book(client, world.bj, world.slots[0], BOOKING | {"chapter": "bj"})
    assert own.status_code == 201


async def test_organiser_books_for_a_named_chapter(client: Client, world: World) -> None:
    missing = await book(client, world.organiser, world.slots[0])
    assert missing.status_code == 422
    assert (await missing.get_json())["field"] == "chapter"
    unknown = await book(client, world.organiser, world.slots[0], BOOKING | {"chapter": "ZZ"})
    assert unknown.status_code == 422
    assert (await unknown.get_json())["field"] == "chapter"
    response = await book(client, world.organiser, world.slots[0], BOOKING | {"chapter": "BJ"})
    assert response.status_code == 201
    assert await response.get_json() == booked_bj(world.slots[0], world.event_id)


async def test_only_delegates_and_organisers_book(
    client: Client, world: World, database: Database, now: dt.datetime
) -> None:
    anonymous = await client.post(f"/api/v1/slots/{world.slots[0]}/booking", json=BOOKING)
    assert anonymous.status_code == 401
    assert (await anonymous.get_json())["code"] == "NOT_AUTHENTICATED"
    moderator = await make_staff(
        database, "mod@example.org", Role.MODERATOR, now=now, event_id=world.event_id
    )
    response = await book(client, moderator, world.slots[0])
    assert response.status_code == 403
    assert (await response.get_json())["code"] == "FORBIDDEN"


@pytest.mark.parametrize("action", ["cancel", "end"])
async def test_closed_event_refuses_bookings(
    client: Client, world: World, database: Database, action: str
) -> None:
    assert (await book(client, world.sn, world.slots[1])).status_code == 201
    if action == "cancel":
        await client.post(
            f"/api/v1/events/{world.event_id}/cancel", headers=world.organiser.headers
        )
    else:
        async with database.write() as db:
            event = await db.get(Event, world.event_id)
            assert event is not None
            event.status = "ended"
    response = await book(client, world.bj, world.slots[0])
    assert response.status_code == 409
    assert (await response.get_json())["code"] == "EVENT_CLOSED"
    cancel = await client.delete(
        f"/api/v1/slots/{world.slots[1]}/booking", headers=world.sn.headers
    )
    assert cancel.status_code == 409
    assert (await cancel.get_json())["code"] == "EVENT_CLOSED"


async def test_draft_events_take_bookings(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, 1)
    bj = await delegate(database, now, "BJ")
    event = await new_event(client, organiser, publish=False)
    slot_id = (await slots_of(client, event["id"], bj))[0]["id"]
    response = await book(client, bj, slot_id)
    assert response.status_code == 201
    assert await response.get_json() == booked_bj(slot_id, event["id"])


# --- approval -------------------------------------------------------------------------------------


async def test_bookings_wait_for_approval_when_the_event_requires_it(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, 2)
    bj = await delegate(database, now, "BJ")
    sn = await delegate(database, now, "SN")
    event = await new_event(client, organiser, bookings_need_approval=True)
    slot_id = (await slots_of(client, event["id"]))[0]["id"]
    response = await book(client, bj, slot_id)
    assert response.status_code == 201
    assert await response.get_json() == booked_bj(slot_id, event["id"], status="pending")
    assert (await slots_of(client, event["id"]))[0]["status"] == "pending"
    # a pending booking holds the slot and the chapter
    taken = await book(client, sn, slot_id)
    assert (await taken.get_json())["code"] == "SLOT_TAKEN"

    refused = await client.post(f"/api/v1/slots/{slot_id}/booking/approve", headers=bj.headers)
    assert refused.status_code == 403
    before = await sequence(database, event["id"])
    approved = await client.post(
        f"/api/v1/slots/{slot_id}/booking/approve", headers=organiser.headers
    )
    assert approved.status_code == 200
    assert await approved.get_json() == booked_bj(slot_id, event["id"])
    assert await sequence(database, event["id"]) == before + 1
    again = await client.post(f"/api/v1/slots/{slot_id}/booking/approve", headers=organiser.headers)
    assert again.status_code == 200
    assert await sequence(database, event["id"]) == before + 1


async def test_an_organisers_booking_needs_no_approval(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, 1)
    event = await new_event(client, organiser, bookings_need_approval=True)
    slot_id = (await slots_of(client, event["id"]))[0]["id"]
    response = await book(client, organiser, slot_id, BOOKING | {"chapter": "BJ"})
    assert (await response.get_json())["status"] == "booked"


async def test_approving_an_open_slot_is_404(client: Client, world: World) -> None:
    response = await client.post(
        f"/api/v1/slots/{world.slots[0]}/booking/approve", headers=world.organiser.headers
    )
    assert response.status_code == 404
    assert await response.get_json() == {"code": "NOT_FOUND", "message": "Slot 1 has no booking."}


# --- editing and cancelling -----------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(
    client: Client, world: World, database: Database
) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    before = await sequence(database, world.event_id)
    response = await client.patch(
        f"/api/v1/slots/{world.slots[0]}/booking",
        json={
            "title": "  Internet shutdowns in Benin  ",
            "language": "en",
            "speakers": [
                {"name": "Afi Mensah", "email": "afi@example.org"},
                {"name": "Koffi Agbo", "email": "koffi@example.org"},
            ],
            "slides_url": None,
        },
        headers=world.bj.headers,
    )
    assert response.status_code == 200
    expected = booked_bj(world.slots[0], world.event_id)
    expected["presentation"] = {
        "title": "Internet shutdowns in Benin",
        "abstract": "Ce que les coupures de 2024 nous ont appris.",
        "language": "en",
        "slides_url": None,
        "speakers": [
            {"name": "Afi Mensah", "email": "afi@example.org"},
            {"name": "Koffi Agbo", "email": "koffi@example.org"},
        ],
    }
    assert await response.get_json() == expected
    assert await sequence(database, world.event_id) == before + 1
    same = await client.patch(
        f"/api/v1/slots/{world.slots[0]}/booking",
        json={"language": "en"},
        headers=world.organiser.headers,
    )
    assert await same.get_json() == expected
    assert await sequence(database, world.event_id) == before + 1  # nothing changed


async def test_cancel_opens_the_slot_and_forgets_the_presentation(
    client: Client, world: World, database: Database
) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    before = await sequence(database, world.event_id)
    response = await client.delete(
        f"/api/v1/slots/{world.slots[0]}/booking", headers=world.bj.headers
    )
    assert response.status_code == 200
    assert await response.get_json() == {
        "id": world.slots[0],
        "event_id": world.event_id,
        "position": 1,
        "starts_at": "2026-12-19T12:15:00Z",
        "ends_at": "2026-12-19T12:38:00Z",
        "presentation_minutes": 15,
        "debate_minutes": 8,
        "status": "open",
        "chapter": None,
        "presentation": None,
    }
    assert await sequence(database, world.event_id) == before + 1
    async with database.read() as db:
        slot = await db.get(Slot, world.slots[0])
        assert slot is not None
        assert (slot.chapter_id, slot.title, slot.speakers, slot.booked_at) == (
            None,
            None,
            [],
            None,
        )
    assert (await book(client, world.sn, world.slots[0])).status_code == 201
    again = await client.delete(f"/api/v1/slots/{world.slots[2]}/booking", headers=world.bj.headers)
    assert again.status_code == 404


async def test_a_delegate_never_changes_another_chapters_booking(
    client: Client, world: World
) -> None:
    assert (await book(client, world.sn, world.slots[1])).status_code == 201
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    slot = f"/api/v1/slots/{world.slots[1]}"
    attempts = [
        await client.patch(f"{slot}/booking", json={"title": "Pris"}, headers=world.bj.headers),
        await client.delete(f"{slot}/booking", headers=world.bj.headers),
        await client.post(f"{slot}/booking/approve", headers=world.bj.headers),
        await client.post(f"{slot}/assign", json={"chapter": "BJ"}, headers=world.bj.headers),
        await client.post(
            f"{slot}/swaps", json={"to_slot_id": world.slots[0]}, headers=world.bj.headers
        ),
    ]
    for response in attempts:
        assert response.status_code == 403
        assert (await response.get_json())["code"] == "FORBIDDEN"
    sn_slot = (await slots_of(client, world.event_id, world.sn))[1]
    assert sn_slot["chapter"]["code"] == "SN"
    assert sn_slot["presentation"]["title"] == "Coupures d'Internet au Bénin"


# --- organisers assign and move -------------------------------------------------------------------


async def test_organiser_assigns_an_open_slot(
    client: Client, world: World, database: Database
) -> None:
    before = await sequence(database, world.event_id)
    response = await client.post(
        f"/api/v1/slots/{world.slots[2]}/assign",
        json={"chapter": "KE"},
        headers=world.organiser.headers,
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["position"], body["status"], body["chapter"], body["presentation"]) == (
        3,
        "booked",
        {"code": "KE", "name": "ISOC Kenya", "timezone": "Africa/Nairobi"},
        None,
    )
    assert await sequence(database, world.event_id) == before + 1
    # the chapter's delegate fills in the presentation; the whole of it is needed the first time
    partial = await client.patch(
        f"/api/v1/slots/{world.slots[2]}/booking", json={"title": "x"}, headers=world.ke.headers
    )
    assert partial.status_code == 422
    assert (await partial.get_json())["field"] == "language"
    filled = await client.patch(
        f"/api/v1/slots/{world.slots[2]}/booking",
        json={k: v for k, v in BOOKING.items() if k != "abstract"},
        headers=world.ke.headers,
    )
    assert filled.status_code == 200
    assert (await filled.get_json())["presentation"]["abstract"] == ""


async def test_organiser_moves_a_chapter_with_its_presentation(
    client: Client, world: World
) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    response = await client.post(
        f"/api/v1/slots/{world.slots[4]}/assign",
        json={"chapter": "bj"},
        headers=world.organiser.headers,
    )
    assert response.status_code == 200
    moved = await response.get_json()
    expected = booked_bj(world.slots[0], world.event_id)
    assert moved["presentation"] == expected["presentation"]
    assert (moved["position"], moved["chapter"]["code"]) == (5, "BJ")
    slots = await slots_of(client, world.event_id, world.organiser)
    assert [(s["position"], s["status"]) for s in slots if s["status"] != "open"] == [(5, "booked")]


async def test_assigning_a_taken_slot_is_409(client: Client, world: World) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    response = await client.post(
        f"/api/v1/slots/{world.slots[0]}/assign",
        json={"chapter": "SN"},
        headers=world.organiser.headers,
    )
    assert response.status_code == 409
    assert (await response.get_json())["code"] == "SLOT_TAKEN"
    unknown = await client.post(
        f"/api/v1/slots/{world.slots[1]}/assign",
        json={"chapter": "ZZ"},
        headers=world.organiser.headers,
    )
    assert unknown.status_code == 422
    assert (await unknown.get_json())["field"] == "chapter"


# --- swaps ----------------------------------------------------------------------------------------


async def _two_bookings(client: Client, world: World) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    sn_booking = BOOKING | {
        "title": "Le numérique au Sénégal",
        "speakers": [{"name": "Awa Diop", "email": "awa@example.org"}],
        "slides_url": None,
    }
    assert (await book(client, world.sn, world.slots[1], sn_booking)).status_code == 201


async def propose(client: Client, world: World, staff: Staff, slot: int, to: int) -> Any:
    return await client.post(
        f"/api/v1/slots/{slot}/swaps", json={"to_slot_id": to}, headers=staff.headers
    )


async def test_accepted_swap_exchanges_chapters_and_presentations(
    client: Client, world: World, database: Database
) -> None:
    await _two_bookings(client, world)
    proposed = await propose(client, world, world.bj, world.slots[0], world.slots[1])
    assert proposed.status_code == 201
    swap = await proposed.get_json()
    assert swap == {
        "id": swap["id"],
        "status": "pending",
        "from_slot_id": world.slots[0],
        "to_slot_id": world.slots[1],
    }
    listed = await client.get(f"/api/v1/events/{world.event_id}/swaps", headers=world.sn.headers)
    assert await listed.get_json() == {"swaps": [swap]}
    before = await sequence(database, world.event_id)
    accepted = await client.post(f"/api/v1/swaps/{swap['id']}/accept", headers=world.sn.headers)
    assert accepted.status_code == 200
    assert await accepted.get_json() == swap | {"status": "accepted"}
    assert await sequence(database, world.event_id) == before + 1
    first, second = (await slots_of(client, world.event_id, world.organiser))[:2]
    assert (first["chapter"]["code"], first["presentation"]["title"]) == (
        "SN",
        "Le numérique au Sénégal",
    )
    assert first["presentation"]["speakers"] == [{"name": "Awa Diop", "email": "awa@example.org"}]
    assert second["presentation"] == booked_bj(world.slots[0], world.event_id)["presentation"]
    assert second["chapter"]["code"] == "BJ"
    listed = await client.get(f"/api/v1/events/{world.event_id}/swaps", headers=world.sn.headers)
    assert await listed.get_json() == {"swaps": []}


async def test_declined_swap_changes_nothing(
    client: Client, world: World, database: Database
) -> None:
    await _two_bookings(client, world)
    swap = await (await propose(client, world, world.bj, world.slots[0], world.slots[1])).get_json()
    before = await sequence(database, world.event_id)
    declined = await client.post(f"/api/v1/swaps/{swap['id']}/decline", headers=world.sn.headers)
    assert declined.status_code == 200
    assert (await declined.get_json())["status"] == "declined"
    assert await sequence(database, world.event_id) == before
    late = await client.post(f"/api/v1/swaps/{swap['id']}/accept", headers=world.sn.headers)
    assert late.status_code == 409
    assert await late.get_json() == {
        "code": "SWAP_NOT_PENDING",
        "message": "This swap is already declined.",
    }
    codes = [s["chapter"]["code"] for s in (await slots_of(client, world.event_id))[:2]]
    assert codes == ["BJ", "SN"]


async def test_only_the_asked_chapter_answers_a_swap(client: Client, world: World) -> None:
    await _two_bookings(client, world)
    swap = await (await propose(client, world, world.bj, world.slots[0], world.slots[1])).get_json()
    for staff in (world.bj, world.ke, world.organiser):
        for action in ("accept", "decline"):
            response = await client.post(
                f"/api/v1/swaps/{swap['id']}/{action}", headers=staff.headers
            )
            assert response.status_code == 403, (staff.email, action)
            assert (await response.get_json())["code"] == "FORBIDDEN"
    refused = await client.post(f"/api/v1/swaps/{swap['id']}/withdraw", headers=world.sn.headers)
    assert refused.status_code == 403
    withdrawn = await client.post(f"/api/v1/swaps/{swap['id']}/withdraw", headers=world.bj.headers)
    assert (await withdrawn.get_json())["status"] == "withdrawn"
    anonymous = await client.post(f"/api/v1/swaps/{swap['id']}/accept")
    assert anonymous.status_code == 401
    unknown = await client.post("/api/v1/swaps/9999/accept", headers=world.sn.headers)
    assert unknown.status_code == 404


async def test_stale_swap_is_409_swap_stale(client: Client, world: World) -> None:
    await _two_bookings(client, world)
    swap = await (await propose(client, world, world.bj, world.slots[0], world.slots[1])).get_json()
    moved = await client.post(
        f"/api/v1/slots/{world.slots[5]}/assign",
        json={"chapter": "BJ"},
        headers=world.organiser.headers,
    )
    assert moved.status_code == 200
    response = await client.post(f"/api/v1/swaps/{swap['id']}/accept", headers=world.sn.headers)
    assert response.status_code == 409
    assert await response.get_json() == {
        "code": "SWAP_STALE",
        "message": "The slots changed hands since this swap was proposed.",
    }
    codes = {
        s["position"]: s["chapter"]["code"]
        for s in await slots_of(client, world.event_id)
        if s["chapter"]
    }
    assert codes == {2: "SN", 6: "BJ"}


async def test_swap_proposals_that_make_no_sense_are_refused(client: Client, world: World) -> None:
    await _two_bookings(client, world)
    open_slot = await propose(client, world, world.bj, world.slots[0], world.slots[2])
    assert open_slot.status_code == 409
    assert (await open_slot.get_json())["code"] == "SLOT_NOT_BOOKED"
    itself = await propose(client, world, world.bj, world.slots[0], world.slots[0])
    assert itself.status_code == 422
    assert (await itself.get_json())["field"] == "to_slot_id"
    elsewhere = await propose(client, world, world.bj, world.slots[0], 99999)
    assert elsewhere.status_code == 422
    assert (await elsewhere.get_json())["field"] == "to_slot_id"
    assert (
        await propose(client, world, world.bj, world.slots[0], world.slots[1])
    ).status_code == 201
    twice = await propose(client, world, world.bj, world.slots[0], world.slots[1])
    assert twice.status_code == 409
    assert (await twice.get_json())["code"] == "SWAP_ALREADY_PROPOSED"
    by_organiser = await propose(client, world, world.organiser, world.slots[0], world.slots[1])
    assert by_organiser.status_code == 403


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"title": None}, "title"),
        ({"title": 42}, "title"),
        ({"abstract": "x" * 5001}, "abstract"),
        ({"abstract": "nul\x00"}, "abstract"),
        ({"language": "de"}, "language"),
        ({"language": None}, "language"),
        ({"speakers": []}, "speakers"),
        ({"speakers": [{"name": "A", "email": f"a{i}@example.org"} for i in range(7)]}, "speakers"),
        ({"speakers": [{"name": "A", "email": "not-an-email"}]}, "speakers.0.email"),
        ({"speakers": [{"name": "A", "email": "a b@example.org"}]}, "speakers.0.email"),
        ({"speakers": [{"name": " ", "email": "a@example.org"}]}, "speakers.0.name"),
        ({"speakers": [{"name": "A"}]}, "speakers.0.email"),
        ({"speakers": "Afi"}, "speakers"),
        ({"slides_url": "http://slides.example.org"}, "slides_url"),
        ({"slides_url": "javascript:alert(1)"}, "slides_url"),
        ({"slides_url": "https://"}, "slides_url"),
        ({"slides_url": "https://exa mple.org"}, "slides_url"),
        ({"slides_url": "https://" + "x" * 1000 + ".org"}, "slides_url"),
        ({"chapter": ""}, "chapter"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_booking_with_bad_input_names_the_field(
    client: Client, world: World, change: dict[str, Any], field: str
) -> None:
    response = await book(client, world.bj, world.slots[0], BOOKING | change)
    assert response.status_code == 422
    body = await response.get_json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == field
    assert body["message"].startswith(f"{field}: ")
    assert (await slots_of(client, world.event_id))[0]["status"] == "open"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"speakers": []}, "speakers"),
        ({"speakers": [{"name": "A", "email": "nope"}]}, "speakers.0.email"),
        ({"slides_url": "ftp://example.org/x"}, "slides_url"),
        ({"language": "es"}, "language"),
    ],
)
async def test_patch_with_bad_input_names_the_field(
    client: Client, world: World, change: dict[str, Any], field: str
) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    response = await client.patch(
        f"/api/v1/slots/{world.slots[0]}/booking", json=change, headers=world.bj.headers
    )
    assert response.status_code == 422
    body = await response.get_json()
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", field)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
async def test_booking_with_malformed_body_is_a_4xx(
    client: Client, world: World, raw: bytes
) -> None:
    response = await client.post(
        f"/api/v1/slots/{world.slots[0]}/booking",
        data=raw,
        headers=world.bj.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert set(await response.get_json()) >= {"code", "message"}


@pytest.mark.parametrize(
    "body", [{}, {"to_slot_id": "2"}, {"to_slot_id": 0}, {"to_slot_id": 2**40}]
)
async def test_swap_with_bad_input_names_the_field(
    client: Client, world: World, body: dict[str, Any]
) -> None:
    assert (await book(client, world.bj, world.slots[0])).status_code == 201
    response = await client.post(
        f"/api/v1/slots/{world.slots[0]}/swaps", json=body, headers=world.bj.headers
    )
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "to_slot_id"


async def test_openapi_documents_the_slots_api(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    methods = {path: set(spec["paths"].get(path, {})) for path in BOOKING_PATHS}
    assert methods == BOOKING_PATHS
    assert not any(p.startswith("/delegate") for p in spec["paths"])


BOOKING_PATHS = {
    "/api/v1/events/{event_id}/slots": {"get"},
    "/api/v1/events/{event_id}/swaps": {"get"},
    "/api/v1/slots/{slot_id}/booking": {"post", "patch", "delete"},
    "/api/v1/slots/{slot_id}/booking/approve": {"post"},
    "/api/v1/slots/{slot_id}/assign": {"post"},
    "/api/v1/slots/{slot_id}/swaps": {"post"},
    "/api/v1/swaps/{swap_id}/accept": {"post"},
    "/api/v1/swaps/{swap_id}/decline": {"post"},
    "/api/v1/swaps/{swap_id}/withdraw": {"post"},
}
