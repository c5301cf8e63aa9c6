"""The Q&A window: open from the slot's start to its end (planned, then actual once the running
order is driven); moderators open early and close early; the latest decision wins."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Role
from tests.clock import Clock
from tests.conftest import Staff, make_staff
from tests.qa.conftest import START, Stage, ask, attend, published_event

pytestmark = pytest.mark.integration


async def window(client: Client, slot_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/slots/{slot_id}/qa")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def is_open(client: Client, slot_id: int) -> bool:
    return bool((await window(client, slot_id))["open"])


async def decide(client: Client, staff: Staff, slot_id: int, *, open: bool) -> Any:
    return await client.post(
        f"/api/v1/slots/{slot_id}/qa", json={"open": open}, headers=staff.headers
    )


def at(minutes: int) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


async def test_the_window_follows_the_planned_times_until_the_order_is_driven(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    slot = stage.slots[0]
    clock.now = at(14)
    assert await window(client, slot) == {
        "slot_id": slot,
        "open": False,
        "starts_at": "2026-12-19T12:15:00Z",
        "ends_at": "2026-12-19T12:38:00Z",
        "decided": None,
        "decided_at": None,
    }
    early = await ask(client, ama, slot)
    assert early.status_code == 409
    assert (await early.get_json())["code"] == "QA_CLOSED"
    clock.now = at(15)
    assert await is_open(client, slot)
    created = await ask(client, ama, slot)
    assert created.status_code == 201
    assert await created.get_json() == {"id": 1, "status": "pending"}
    clock.now = at(38)
    assert not await is_open(client, slot)
    assert (await ask(client, ama, slot)).status_code == 409
    assert await is_open(client, stage.slots[1])


async def test_opening_early_lasts_until_the_slot_ends(
    client: Client, stage: Stage, clock: Clock
) -> None:
    slot = stage.slots[0]
    clock.now = at(5)
    opened = await decide(client, stage.moderator, slot, open=True)
    assert opened.status_code == 200
    assert (await opened.get_json()) | {"starts_at": None, "ends_at": None} == {
        "slot_id": slot,
        "open": True,
        "starts_at": None,
        "ends_at": None,
        "decided": True,
        "decided_at": "2026-12-19T12:05:00Z",
    }
    clock.now = at(20)
    assert await is_open(client, slot)
    clock.now = at(38)
    assert not await is_open(client, slot)


async def test_closing_early_lasts_until_a_moderator_reopens(
    client: Client, stage: Stage, clock: Clock
) -> None:
    slot = stage.slots[0]
    clock.now = at(20)
    await decide(client, stage.moderator, slot, open=False)
    clock.now = at(25)
    assert not await is_open(client, slot)
    await decide(client, stage.moderator, slot, open=True)
    clock.now = at(30)
    assert await is_open(client, slot)
    clock.now = at(38)
    assert not await is_open(client, slot)


async def test_opening_after_the_end_lasts_until_closed(
    client: Client, stage: Stage, clock: Clock
) -> None:
    slot = stage.slots[0]
    clock.now = at(40)
    await decide(client, stage.moderator, slot, open=True)
    clock.now = at(200)
    assert await is_open(client, slot)
    await decide(client, stage.moderator, slot, open=False)
    assert not await is_open(client, slot)


async def test_a_driven_running_order_moves_the_windows(
    client: Client, stage: Stage, organiser: Staff, clock: Clock
) -> None:
    first, second = stage.slots[:2]
    clock.now = at(20)  # slot 1 starts five minutes late
    start = await client.post(
        f"/api/v1/slots/{first}/live", json={"action": "start"}, headers=organiser.headers
    )
    assert start.status_code == 200
    assert (await window(client, first))["starts_at"] == "2026-12-19T12:20:00Z"
    clock.now = at(40)  # past slot 1's planned end and slot 2's planned start
    assert await is_open(client, first)
    assert not await is_open(client, second)
    assert (await window(client, second))["starts_at"] is None
    clock.now = at(45)
    await client.post(
        f"/api/v1/slots/{second}/live", json={"action": "start"}, headers=organiser.headers
    )
    assert (await is_open(client, first), await is_open(client, second)) == (False, True)
    skipped = stage.slots[2]
    await client.post(
        f"/api/v1/slots/{skipped}/live", json={"action": "skip"}, headers=organiser.headers
    )
    clock.now = at(100)
    assert await window(client, skipped) | {"slot_id": 0} == {
        "slot_id": 0,
        "open": False,
        "starts_at": None,
        "ends_at": None,
        "decided": None,
        "decided_at": None,
    }


async def test_only_the_events_moderators_open_and_close(
    client: Client, stage: Stage, database: Database, organiser: Staff
) -> None:
    slot = stage.slots[0]
    other_event, _ = await published_event(client, organiser)
    theirs = await make_staff(
        database, "m2@example.org", Role.MODERATOR, now=START, event_id=other_event
    )
    anonymous = await client.post(f"/api/v1/slots/{slot}/qa", json={"open": True})
    assert anonymous.status_code == 401
    assert (await decide(client, theirs, slot, open=True)).status_code == 403
    assert (await decide(client, stage.moderator, slot, open=True)).status_code == 200
    assert (await decide(client, organiser, slot, open=False)).status_code == 200
    assert (await decide(client, organiser, 999_999, open=True)).status_code == 404
    bad = await client.post(
        f"/api/v1/slots/{slot}/qa", json={"open": "yes"}, headers=organiser.headers
    )
    assert bad.status_code == 422
    assert (await bad.get_json())["field"] == "open"


async def test_a_cancelled_event_takes_no_questions(
    client: Client, stage: Stage, database: Database, organiser: Staff, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    await decide(client, stage.moderator, stage.slots[0], open=True)
    cancelled = await client.post(
        f"/api/v1/events/{stage.event_id}/cancel", headers=organiser.headers
    )
    assert cancelled.status_code == 200, await cancelled.get_data(as_text=True)
    assert not await is_open(client, stage.slots[0])
    assert (await ask(client, ama, stage.slots[0])).status_code == 409
    refused = await decide(client, stage.moderator, stage.slots[0], open=True)
    assert refused.status_code == 409
    assert (await refused.get_json())["code"] == "EVENT_NOT_RUNNING"
