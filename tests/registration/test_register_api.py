"""Registration through the API: capacity, waitlist, duplicates, idempotency, cancel/promote,
hubs' separate seats, validation and rate limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.app import create_app
from internet10.db import Database
from internet10.models import IdempotencyRecord, Job
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import HUB, I10, create
from tests.conftest import Staff

pytestmark = pytest.mark.integration


def person(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "name": f"Personne {i}",
        "email": f"p{i}@example.org",
        "country": "BJ",
        "language": "fr",
    } | changes


async def open_event(client: Client, organiser: Staff, **changes: Any) -> dict[str, Any]:
    event = await create(client, organiser, I10 | changes)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    return event


async def register(client: Client, event_id: int, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(f"/api/v1/events/{event_id}/registrations", json=body, headers=headers)


async def test_confirmed_until_full_then_waitlisted_in_order(
    client: Client, organiser: Staff
) -> None:
    event = await open_event(client, organiser, capacity=2)
    bodies = []
    for i in range(4):
        response = await register(client, event["id"], person(i))
        assert response.status_code == 201
        bodies.append(await response.get_json())
    assert [(b["status"], b["waitlist_position"]) for b in bodies] == [
        ("confirmed", None),
        ("confirmed", None),
        ("waitlisted", 1),
        ("waitlisted", 2),
    ]
    first = bodies[0]
    assert len(first["access_token"]) == 43
    assert first["personal_url"] == f"http://testserver/me/{first['access_token']}"
    summary = await client.get(
        f"/api/v1/events/{event['id']}/registrations/summary", headers=organiser.headers
    )
    assert await summary.get_json() == {
        "capacity": 2,
        "confirmed": 2,
        "waitlisted": 2,
        "cancelled": 0,
        "seats": None,
        "in_person_confirmed": 0,
    }


async def test_same_email_twice_is_409_and_mails_the_link_again(
    client: Client, organiser: Staff, database: Database
) -> None:
    event = await open_event(client, organiser)
    first = await register(client, event["id"], person(1, email="Ama@Example.org"))
    assert first.status_code == 201
    again = await register(client, event["id"], person(1, email="  ama@example.ORG "))
    assert again.status_code == 409
    body = await again.get_json()
    assert body["code"] == "ALREADY_REGISTERED"
    assert "access_token" not in body
    assert "personal_url" not in body
    async with database.read() as db:
        kinds = [
            (j.kind, j.payload["kind"])
            for j in (
                await db.scalars(
                    select(Job).where(Job.kind == "registration.mail").order_by(Job.id)
                )
            ).all()
        ]
    assert kinds == [("registration.mail", "confirmed"), ("registration.mail", "link")]


async def test_names_are_kept_as_typed(client: Client, organiser: Staff) -> None:
    event = await open_event(client, organiser)
    for i, name in enumerate(["Ségolène Dossou-Yovo", "Nguyễn Thị Minh", "محمد", "李小龍"]):
        response = await register(client, event["id"], person(i, name=name))
        reg = await response.get_json()
        mine = await client.get(
            f"/api/v1/registrations/{reg['id']}",
            headers={"Authorization": f"Bearer {reg['access_token']}"},
        )
        assert (await mine.get_json())["name"] == name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a b@example.org"}, "email"),
        ({"country": "Benin"}, "country"),
        ({"language": "de"}, "language"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"mode": "teleport"}, "mode"),
        ({"mode": "in_person"}, "mode"),  # an Internet10 session has no room
        ({"chapter": "ZZ"}, "chapter"),
        ({"chapter": "../x"}, "chapter"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_input_names_the_field(
    client: Client, organiser: Staff, change: dict[str, Any], field: str
) -> None:
    event = await open_event(client, organiser)
    response = await register(client, event["id"], person(1) | change)
    assert response.status_code == 422
    assert (await response.get_json())["field"] == field


async def test_drafts_and_cancelled_events_take_no_registration(
    client: Client, organiser: Staff
) -> None:
    draft = await create(client, organiser, I10)
    assert (await register(client, draft["id"], person(1))).status_code == 404
    event = await open_event(client, organiser)
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    closed = await register(client, event["id"], person(1))
    assert closed.status_code == 409
    assert (await closed.get_json())["code"] == "REGISTRATION_CLOSED"


async def test_idempotency_key_replays_the_first_response(
    client: Client, organiser: Staff, database: Database
) -> None:
    event = await open_event(client, organiser)
    key = {"Idempotency-Key": "8f1c3a9e-retry-me"}
    first = await register(client, event["id"], person(1), **key)
    # the same JSON with other key order and spacing is the same request
    second = await client.post(
        f"/api/v1/events/{event['id']}/registrations",
        data='{"language":"fr","country":"BJ","email":"p1@example.org","name":"Personne 1"}',
        headers=key | {"Content-Type": "application/json"},
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert await first.get_json() == await second.get_json()
    reused = await register(client, event["id"], person(2), **key)
    assert reused.status_code == 422
    assert (await reused.get_json())["code"] == "IDEMPOTENCY_KEY_REUSED"
    async with database.read() as db:
        [record] = (await db.scalars(select(IdempotencyRecord))).all()
    token = (await first.get_json())["access_token"]
    assert token not in record.body  # stored encrypted
    assert "8f1c3a9e" not in record.key_hash


async def test_cancel_promotes_the_first_waitlisted(client: Client, organiser: Staff) -> None:
    event = await open_event(client, organiser, capacity=2)
    regs = [await (await register(client, event["id"], person(i))).get_json() for i in range(5)]
    for k in (0, 1):
        response = await client.delete(
            f"/api/v1/registrations/{regs[k]['id']}",
            headers={"Authorization": f"Bearer {regs[k]['access_token']}"},
        )
        assert response.status_code == 200
    statuses = []
    for reg in regs:
        mine = await client.get(
            f"/api/v1/registrations/{reg['id']}",
            headers={"Authorization": f"Bearer {reg['access_token']}"},
        )
        body = await mine.get_json()
        statuses.append((body["status"], body["waitlist_position"]))
    assert statuses == [
        ("cancelled", None),
        ("cancelled", None),
        ("confirmed", None),
        ("confirmed", None),
        ("waitlisted", 1),
    ]


async def test_attendee_tokens_never_reach_another_registration(
    client: Client, organiser: Staff
) -> None:
    event = await open_event(client, organiser)
    mine = await (await register(client, event["id"], person(1))).get_json()
    theirs = await (await register(client, event["id"], person(2))).get_json()
    as_me = {"Authorization": f"Bearer {mine['access_token']}"}
    assert (
        await client.get(f"/api/v1/registrations/{theirs['id']}", headers=as_me)
    ).status_code == 403
    assert (
        await client.delete(f"/api/v1/registrations/{theirs['id']}", headers=as_me)
    ).status_code == 403
    assert (await client.get(f"/api/v1/registrations/{theirs['id']}")).status_code == 401
    summary = await client.get(f"/api/v1/events/{event['id']}/registrations/summary", headers=as_me)
    assert summary.status_code == 401


async def test_organiser_cancels_restores_and_exports(client: Client, organiser: Staff) -> None:
    event = await open_event(client, organiser, capacity=1)
    first = await (await register(client, event["id"], person(1, name="=HYPERLINK(1)"))).get_json()
    second = await (await register(client, event["id"], person(2))).get_json()
    assert (
        await client.delete(f"/api/v1/registrations/{first['id']}", headers=organiser.headers)
    ).status_code == 200
    restored = await client.post(
        f"/api/v1/registrations/{first['id']}/restore", headers=organiser.headers
    )
    assert await restored.get_json() == {"id": first["id"], "status": "waitlisted"}
    csv_response = await client.get(
        f"/api/v1/events/{event['id']}/registrations.csv", headers=organiser.headers
    )
    text = await csv_response.get_data(as_text=True)
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,status,mode,name,email")
    assert lines[1].startswith(f"{first['id']},waitlisted,online,'=HYPERLINK(1),p1@example.org")
    assert lines[2].startswith(f"{second['id']},confirmed,online,Personne 2,")
    assert (await client.get(f"/api/v1/events/{event['id']}/registrations.csv")).status_code == 401


async def test_hub_counts_seats_and_online_places_apart(client: Client, organiser: Staff) -> None:
    hub = await create(client, organiser, HUB | {"capacity": 1, "seats": 1})
    await client.post(f"/api/v1/events/{hub['id']}/publish", headers=organiser.headers)
    results = []
    for i, mode in enumerate(["in_person", "online", "in_person", "online"]):
        body = await (await register(client, hub["id"], person(i, mode=mode))).get_json()
        results.append(body["status"])
    assert results == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    summary = await (
        await client.get(
            f"/api/v1/events/{hub['id']}/registrations/summary", headers=organiser.headers
        )
    ).get_json()
    assert summary == {
        "capacity": 1,
        "confirmed": 2,
        "waitlisted": 2,
        "cancelled": 0,
        "seats": 1,
        "in_person_confirmed": 1,
    }


async def test_rate_limit_per_address_is_429_with_retry_after(
    settings: Settings, database: Database, organiser: Staff, now: dt.datetime
) -> None:
    limited = settings.model_copy(update={"registration_rate_per_minute": 3})
    app: Quart = create_app(
        limited, dependencies=Dependencies(database=database, clock=lambda: now)
    )
    async with app.test_app():
        client = app.test_client()
        event = await open_event(client, organiser)
        codes = [(await register(client, event["id"], person(i))).status_code for i in range(4)]
        assert codes == [201, 201, 201, 429]
        blocked = await register(client, event["id"], person(9))
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        assert (await blocked.get_json())["code"] == "RATE_LIMITED"


async def test_revoking_links_stops_the_old_ones_and_mails_a_new_one(
    client: Client, organiser: Staff, database: Database
) -> None:
    event = await open_event(client, organiser)
    reg = await (await register(client, event["id"], person(1))).get_json()
    theirs = await (await register(client, event["id"], person(2))).get_json()
    as_holder = {"Authorization": f"Bearer {reg['access_token']}"}
    other = await client.post(
        f"/api/v1/registrations/{theirs['id']}/links/revoke", headers=as_holder
    )
    assert other.status_code == 403
    revoked = await client.post(
        f"/api/v1/registrations/{reg['id']}/links/revoke", headers=as_holder
    )
    assert await revoked.get_json() == {"id": reg["id"], "status": "confirmed"}
    assert (
        await client.get(f"/api/v1/registrations/{reg['id']}", headers=as_holder)
    ).status_code == 401
    page = await client.get(f"/me/{reg['access_token']}")
    assert page.status_code == 404
    async with database.read() as db:
        kinds = [
            j.payload["kind"]
            for j in (
                await db.scalars(
                    select(Job)
                    .where(
                        Job.kind == "registration.mail",
                        Job.payload["registration_id"].as_integer() == reg["id"],
                    )
                    .order_by(Job.id)
                )
            ).all()
        ]
    assert kinds == ["confirmed", "link"]
    by_organiser = await client.post(
        f"/api/v1/registrations/{theirs['id']}/links/revoke", headers=organiser.headers
    )
    assert by_organiser.status_code == 200
