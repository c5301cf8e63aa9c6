"""The planning API: organisers get the command line's proposals for an event, and apply one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.db import Database
from internet10.models import Chapter, Role, Slot, SlotSwap
from internet10.services.events import event_slots
from tests.api.test_events import HUB, I10, create
from tests.conftest import Staff, make_staff
from tests.planning.test_plan_cli import BEST, CHAPTERS, DATE, run_plan, write_chapters

pytestmark = pytest.mark.integration

# Everyone comfortable: Porto-Novo, Nepal (UTC+05:45) and New York with the default 08:00-22:00
# except New York from 09:00. New York must present late in the session, Nepal early.
WIDE = [
    {"code": "BJ", "name": "ISOC Benin", "timezone": "Africa/Porto-Novo", "hours": "08:00-22:00"},
    {"code": "NP", "name": "ISOC Nepal", "timezone": "Asia/Kathmandu", "hours": "08:00-21:00"},
    {"code": "US", "name": "ISOC New York", "timezone": "America/New_York", "hours": "09:00-22:00"},
]


async def add_chapters(
    database: Database, now: dt.datetime, chapters: list[dict[str, str]]
) -> dict[str, int]:
    async with database.write() as db:
        rows = []
        for entry in chapters:
            start, _, end = entry.get("hours", "08:00-22:00").partition("-")
            row = Chapter(
                code=entry["code"],
                name=entry["name"],
                country=entry["code"][:2],
                timezone=entry["timezone"],
                languages=["en"],
                hours_start=start,
                hours_end=end,
                created_at=now,
            )
            db.add(row)
            rows.append(row)
        await db.flush()
        return {row.code: row.id for row in rows}


async def plan(
    client: Client, staff: Staff, event_id: int, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/api/v1/events/{event_id}/plan", json=body, headers=staff.headers
    )
    return response.status_code, await response.get_json()


async def apply(
    client: Client, staff: Staff, event_id: int, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/api/v1/events/{event_id}/plan/apply", json=body, headers=staff.headers
    )
    return response.status_code, await response.get_json()


def by_position(proposal: dict[str, Any]) -> list[str | None]:
    """A proposal's order with ``None`` at each open position (what apply takes)."""
    order: list[str | None] = [None] * max(s["position"] for s in proposal["slots"])
    for slot in proposal["slots"]:
        order[slot["position"] - 1] = slot["chapter"]
    return order


async def running_order(database: Database, event_id: int) -> list[tuple[int, str, str | None]]:
    async with database.read() as db:
        codes = {c.id: c.code for c in (await db.scalars(select(Chapter))).all()}
        return [
            (
                s.position,
                s.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                codes.get(s.chapter_id) if s.chapter_id else None,
            )
            for s in await event_slots(db, event_id)
        ]


@pytest.fixture
async def event(client: Client, organiser: Staff) -> dict[str, Any]:
    return await create(client, organiser, I10)


async def test_plan_is_the_command_line_json(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    tmp_path: Path,
    event: dict[str, Any],
) -> None:
    await add_chapters(database, now, CHAPTERS)
    status, body = await plan(
        client, organiser, event["id"], {"date": DATE, "chapters": ["BJ", "NP", "US"]}
    )
    write_chapters(tmp_path, CHAPTERS)
    cli = run_plan("--date", DATE, "--chapters", "chapters.json", "--json", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert status == 200
    assert body == json.loads(cli.stdout)
    assert body["proposals"][0] == BEST


async def test_plan_defaults_to_every_chapter_on_the_event_date(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    status, body = await plan(client, organiser, event["id"], {"top": 1})
    assert status == 200
    (best,) = body["proposals"]
    # The event is on 2026-12-19 in Porto-Novo: the earliest start serving everyone fully.
    assert (best["starts_at"], best["order"], best["minutes_outside_total"]) == (
        "2026-12-19T10:45:00Z",
        ["BJ", "NP", "US"],
        0,
    )
    assert [s["position"] for s in best["slots"]] == [1, 2, 9]


async def test_plan_chapter_order_breaks_ties(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    _, body = await plan(
        client, organiser, event["id"], {"date": "2026-12-19", "chapters": ["NP", "BJ"], "top": 1}
    )
    assert body["proposals"][0]["order"] == ["NP", "BJ"]


async def test_apply_sets_start_and_slots_in_order(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    _, body = await plan(client, organiser, event["id"], {"date": "2026-12-19", "top": 1})
    proposal = body["proposals"][0]
    order = by_position(proposal)
    assert order == ["BJ", "NP", None, None, None, None, None, None, "US"]
    status, applied = await apply(
        client, organiser, event["id"], {"starts_at": proposal["starts_at"], "order": order}
    )
    assert status == 200
    assert (applied["id"], applied["starts_at"], applied["ends_at"], applied["sequence"]) == (
        event["id"],
        "2026-12-19T10:45:00Z",
        "2026-12-19T15:15:00Z",
        1,
    )
    slots = await running_order(database, event["id"])
    assert [(p, code) for p, _, code in slots] == [
        (1, "BJ"),
        (2, "NP"),
        *((p, None) for p in range(3, 9)),
        (9, "US"),
        (10, None),
    ]
    placed = {code: starts for _, starts, code in slots if code}
    assert placed == {s["chapter"]: s["starts_at"] for s in proposal["slots"]}
    async with database.read() as db:
        booked = [s for s in await event_slots(db, event["id"]) if s.chapter_id]
    assert {(s.booking_status, s.booked_by_user_id, s.booked_at) for s in booked} == {
        ("confirmed", organiser.user_id, now)
    }

    again_status, again = await apply(
        client, organiser, event["id"], {"starts_at": proposal["starts_at"], "order": order}
    )
    assert (again_status, again["sequence"]) == (200, 1)  # the same proposal changes nothing


async def book(database: Database, event_id: int, position: int, code: str) -> None:
    async with database.write() as db:
        chapter = await db.scalar(select(Chapter).where(Chapter.code == code))
        slot = await db.scalar(
            select(Slot).where(Slot.event_id == event_id, Slot.position == position)
        )
        assert chapter is not None
        assert slot is not None
        slot.chapter_id = chapter.id
        slot.booking_status = "pending"
        slot.title = f"Talk by {code}"
        slot.speakers = [{"name": f"Speaker {code}"}]


async def test_apply_refuses_to_move_booked_chapters_unless_forced(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    await book(database, event["id"], 1, "US")
    await book(database, event["id"], 2, "NP")
    body = {"starts_at": "2026-12-19T10:45:00Z", "order": ["BJ", "NP", None, "US"]}
    status, error = await apply(client, organiser, event["id"], body)
    assert (status, error["code"]) == (409, "SLOTS_BOOKED")
    assert (
        error["message"] == "Slot(s) 1 are booked by other chapters; apply with force to move them."
    )
    assert [code for _, _, code in await running_order(database, event["id"])][:4] == [
        "US",
        "NP",
        None,
        None,
    ]

    status, applied = await apply(client, organiser, event["id"], body | {"force": True})
    assert (status, applied["sequence"]) == (200, 1)
    async with database.read() as db:
        slots = {s.position: s for s in await event_slots(db, event["id"])}
    assert [(p, s.title, s.booking_status) for p, s in sorted(slots.items()) if s.chapter_id] == [
        (1, None, "confirmed"),
        (2, "Talk by NP", "pending"),
        (4, "Talk by US", "pending"),  # the booking moved with its chapter
    ]
    assert slots[4].speakers == [{"name": "Speaker US"}]


async def test_apply_never_drops_a_booked_chapter(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    await book(database, event["id"], 3, "US")
    status, error = await apply(
        client,
        organiser,
        event["id"],
        {"starts_at": "2026-12-19T10:45:00Z", "order": ["BJ", "NP"], "force": True},
    )
    assert (status, error["code"]) == (409, "CHAPTER_LEFT_OUT")


async def test_apply_withdraws_pending_swaps_on_moved_slots(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    ids = await add_chapters(database, now, WIDE)
    await book(database, event["id"], 1, "US")
    await book(database, event["id"], 2, "NP")
    await book(database, event["id"], 5, "BJ")
    async with database.write() as db:
        slots = {s.position: s.id for s in await event_slots(db, event["id"])}
        for from_position, to_position, by, target in ((1, 2, "US", "NP"), (5, 2, "BJ", "NP")):
            db.add(
                SlotSwap(
                    event_id=event["id"],
                    from_slot_id=slots[from_position],
                    to_slot_id=slots[to_position],
                    proposed_by_chapter_id=ids[by],
                    target_chapter_id=ids[target],
                    status="pending",
                    created_at=now,
                )
            )
    status, _ = await apply(
        client,
        organiser,
        event["id"],
        {
            "starts_at": "2026-12-19T10:45:00Z",
            "order": ["BJ", "NP", None, None, "US"],
            "force": True,
        },
    )
    assert status == 200
    async with database.read() as db:
        swaps = (await db.scalars(select(SlotSwap).order_by(SlotSwap.id))).all()
    assert [(s.status, s.decided_at, s.decided_by_user_id) for s in swaps] == [
        ("withdrawn", now, organiser.user_id),
        ("withdrawn", now, organiser.user_id),
    ]


async def test_apply_moves_slot_times_with_the_start(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    status, _ = await apply(
        client, organiser, event["id"], {"starts_at": "2026-12-20T08:00:00+01:00", "order": ["BJ"]}
    )
    assert status == 200
    slots = await running_order(database, event["id"])
    assert slots[0] == (1, "2026-12-20T07:15:00Z", "BJ")
    assert slots[9][:2] == (10, "2026-12-20T10:52:00Z")  # 15 + 9 x 23 + a 10-minute break


@pytest.mark.parametrize("path", ["plan", "plan/apply"])
async def test_planning_needs_an_organiser(
    client: Client,
    database: Database,
    now: dt.datetime,
    organiser: Staff,
    path: str,
    event: dict[str, Any],
) -> None:
    await add_chapters(database, now, WIDE)
    body = {"starts_at": "2026-12-19T10:45:00Z", "order": ["BJ"]} if path != "plan" else {}
    anonymous = await client.post(f"/api/v1/events/{event['id']}/{path}", json=body)
    assert (anonymous.status_code, (await anonymous.get_json())["code"]) == (
        401,
        "NOT_AUTHENTICATED",
    )
    for role, extra in ((Role.DELEGATE, {"chapter_code": "BJ"}), (Role.MODERATOR, {})):
        staff = await make_staff(
            database,
            f"{role.value}@example.org",
            role,
            now=now,
            event_id=event["id"] if role is Role.MODERATOR else None,
            **extra,
        )
        response = await client.post(
            f"/api/v1/events/{event['id']}/{path}", json=body, headers=staff.headers
        )
        assert (response.status_code, (await response.get_json())["code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize("path", ["plan", "plan/apply"])
async def test_planning_a_hub_is_409(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, path: str
) -> None:
    await add_chapters(database, now, WIDE)
    hub = await create(client, organiser, HUB)
    body = {"starts_at": "2026-12-19T10:45:00Z", "order": ["BJ"]} if path != "plan" else {}
    response = await client.post(
        f"/api/v1/events/{hub['id']}/{path}", json=body, headers=organiser.headers
    )
    assert response.status_code == 409
    assert (await response.get_json())["code"] == "NOT_INTERNET10"


async def test_planning_an_unknown_event_is_404(client: Client, organiser: Staff) -> None:
    status, body = await plan(client, organiser, 4242, {})
    assert (status, body["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"date": "2026-02-30"}, "VALIDATION_ERROR", "date"),
        ({"date": "05/12/2026"}, "VALIDATION_ERROR", "date"),
        ({"date": "20261205"}, "VALIDATION_ERROR", "date"),
        ({"date": 20261205}, "VALIDATION_ERROR", "date"),
        ({"date": "2101-01-01"}, "VALIDATION_ERROR", "date"),
        ({"date": "2026-11-27"}, "DATE_IN_PAST", "date"),
        ({"top": 0}, "VALIDATION_ERROR", "top"),
        ({"top": 11}, "VALIDATION_ERROR", "top"),
        ({"top": "3"}, "VALIDATION_ERROR", "top"),
        ({"chapters": []}, "VALIDATION_ERROR", "chapters"),
        ({"chapters": ["BJ", "XX"]}, "UNKNOWN_CHAPTER", "chapters[1]"),
        ({"chapters": ["BJ", "BJ"]}, "DUPLICATE_CHAPTER", "chapters[1]"),
        ({"surprise": True}, "VALIDATION_ERROR", "surprise"),
    ],
)
async def test_plan_bad_input_is_422_naming_the_field(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    event: dict[str, Any],
    change: dict[str, Any],
    code: str,
    field: str,
) -> None:
    await add_chapters(database, now, WIDE)
    status, body = await plan(client, organiser, event["id"], change)
    assert (status, body["code"], body["field"]) == (422, code, field)


async def test_plan_bad_date_message_names_the_field(
    client: Client, organiser: Staff, event: dict[str, Any]
) -> None:
    _, body = await plan(client, organiser, event["id"], {"date": "2026-02-30"})
    assert body["message"] == "date: expected a date as YYYY-MM-DD, got '2026-02-30'"


async def test_plan_more_chapters_than_slots_asks_for_a_choice(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    many = [
        {"code": f"C{i:02d}", "name": f"Chapter {i}", "timezone": "Africa/Porto-Novo"}
        for i in range(11)
    ]
    await add_chapters(database, now, many)
    status, body = await plan(client, organiser, event["id"], {})
    assert (status, body["code"], body["field"]) == (422, "TOO_MANY_CHAPTERS", "chapters")
    status, body = await plan(client, organiser, event["id"], {"chapters": ["C00", "C05"]})
    assert (status, body["proposals"][0]["order"]) == (200, ["C00", "C05"])


async def test_plan_scheduling_error_is_422_with_its_code_and_field(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(
        database, now, [*WIDE, {"code": "MA", "name": "ISOC Mars", "timezone": "Mars/Olympus"}]
    )
    status, body = await plan(client, organiser, event["id"], {})
    assert (status, body) == (
        422,
        {
            "code": "INVALID_TIMEZONE",
            "message": 'chapters[1] ("MA"): unknown time zone "Mars/Olympus"',
            "field": "chapters[1].timezone",
        },
    )


async def test_plan_without_chapters_is_422(
    client: Client, organiser: Staff, event: dict[str, Any]
) -> None:
    status, body = await plan(client, organiser, event["id"], {})
    assert (status, body["code"], body["field"]) == (422, "NO_CHAPTERS", "chapters")


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"order": ["BJ", "XX"]}, "UNKNOWN_CHAPTER", "order[1]"),
        ({"order": ["BJ", None, "BJ"]}, "DUPLICATE_CHAPTER", "order[2]"),
        ({"order": []}, "VALIDATION_ERROR", "order"),
        ({"order": [None, None]}, "NO_CHAPTERS", "order"),
        ({"order": ["BJ"] + [None] * 10}, "TOO_MANY_CHAPTERS", "order"),
        ({"starts_at": "2026-11-28T08:00:00Z"}, "STARTS_IN_PAST", "starts_at"),
        ({"starts_at": "2026-12-19T10:45:00"}, "VALIDATION_ERROR", "starts_at"),
        ({"force": "yes"}, "VALIDATION_ERROR", "force"),
    ],
)
async def test_apply_bad_input_is_422_naming_the_field(
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    event: dict[str, Any],
    change: dict[str, Any],
    code: str,
    field: str,
) -> None:
    await add_chapters(database, now, WIDE)
    body = {"starts_at": "2026-12-19T10:45:00Z", "order": ["BJ", "NP"]} | change
    status, error = await apply(client, organiser, event["id"], body)
    assert (status, error["code"], error["field"]) == (422, code, field)


async def test_apply_on_a_cancelled_event_is_409(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, event: dict[str, Any]
) -> None:
    await add_chapters(database, now, WIDE)
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    status, error = await apply(
        client, organiser, event["id"], {"starts_at": "2026-12-19T10:45:00Z", "order": ["BJ"]}
    )
    assert (status, error["code"]) == (409, "EVENT_CLOSED")


async def test_openapi_documents_the_planning_api(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert set(spec["paths"]["/api/v1/events/{event_id}/plan"]) == {"post"}
    assert set(spec["paths"]["/api/v1/events/{event_id}/plan/apply"]) == {"post"}
    assert not any(path.startswith("/organiser/") for path in spec["paths"])
