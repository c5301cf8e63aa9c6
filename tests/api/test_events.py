"""The events API: organisers create and change events, everyone reads published ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Role
from tests.conftest import Staff, make_staff

pytestmark = pytest.mark.integration

HUB = {
    "kind": "hub",
    "title": "Hub IGF Cotonou",
    "starts_at": "2026-12-10T09:00:00+01:00",
    "duration_minutes": 180,
    "timezone": "Africa/Porto-Novo",
    "capacity": 120,
    "participant_target": 80,
    "upstream_event": "IGF",
    "venue": "Cotonou",
    "seats": 40,
}
I10 = {
    "kind": "internet10",
    "title": "Internet10 2026",
    "starts_at": "2026-12-19T13:00:00+01:00",
    "duration_minutes": 270,
    "timezone": "Africa/Porto-Novo",
    "capacity": 300,
    "participant_target": 150,
}


async def create(client: Client, staff: Staff, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/events", json=body, headers=staff.headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    data: dict[str, Any] = await response.get_json()
    return data


async def test_create_event_returns_the_event_in_utc(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, HUB)
    assert event == {
        "id": 1,
        "kind": "hub",
        "title": "Hub IGF Cotonou",
        "description": "",
        "starts_at": "2026-12-10T08:00:00Z",
        "ends_at": "2026-12-10T11:00:00Z",
        "duration_minutes": 180,
        "timezone": "Africa/Porto-Novo",
        "capacity": 120,
        "participant_target": 80,
        "status": "draft",
        "upstream_event": "IGF",
        "retransmits_id": None,
        "venue": "Cotonou",
        "seats": 40,
        "bookings_need_approval": False,
        "sequence": 0,
        "public_url": "http://testserver/events/1",
        "online_meeting": False,
        "overflow_livestream": False,
    }


async def test_create_internet10_lays_out_the_default_running_order(
    client: Client, organiser: Staff, database: Database
) -> None:
    body = {k: v for k, v in I10.items() if k != "participant_target"}
    event = await create(client, organiser, body)
    assert event["participant_target"] == 150
    from internet10.services.events import event_slots

    async with database.read() as db:
        slots = await event_slots(db, event["id"])
    starts = [s.starts_at.strftime("%H:%M") for s in slots]
    # opening 15, then 23-minute slots, a 10-minute break after slot 5 (times in UTC)
    assert starts == [
        "12:15",
        "12:38",
        "13:01",
        "13:24",
        "13:47",
        "14:20",
        "14:43",
        "15:06",
        "15:29",
        "15:52",
    ]
    assert {(s.presentation_minutes, s.debate_minutes) for s in slots} == {(15, 8)}


async def test_create_internet10_too_short_for_its_running_order_names_the_field(
    client: Client, organiser: Staff
) -> None:
    response = await client.post(
        "/api/v1/events", json=I10 | {"duration_minutes": 120}, headers=organiser.headers
    )
    assert response.status_code == 422
    body = await response.get_json()
    assert body["code"] == "AGENDA_TOO_LONG"
    assert body["field"] == "duration_minutes"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"starts_at": "2026-12-10T09:00:00"}, "starts_at"),
        ({"starts_at": "not a date"}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00:00+00:00"}, "starts_at"),
        ({"starts_at": "9999-12-31T23:59:59-12:00"}, "starts_at"),
        ({"duration_minutes": -30}, "duration_minutes"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": "180"}, "duration_minutes"),
        ({"duration_minutes": 10**30}, "duration_minutes"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 1.5}, "capacity"),
        ({"kind": "webinar"}, "kind"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"title": None}, "title"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_create_event_with_bad_input_names_the_field(
    client: Client, organiser: Staff, change: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/events", json=HUB | change, headers=organiser.headers)
    assert response.status_code == 422
    body = await response.get_json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == field
    assert body["message"].startswith(f"{field}: ")


async def test_create_event_missing_field_names_it(client: Client, organiser: Staff) -> None:
    body = {k: v for k, v in HUB.items() if k != "timezone"}
    response = await client.post("/api/v1/events", json=body, headers=organiser.headers)
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "timezone"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
async def test_create_event_with_malformed_body_is_a_4xx(
    client: Client, organiser: Staff, raw: bytes
) -> None:
    response = await client.post(
        "/api/v1/events",
        data=raw,
        headers=organiser.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["code"] == "MALFORMED_BODY"
    assert body["message"]


async def test_hub_fields_on_internet10_are_refused(client: Client, organiser: Staff) -> None:
    response = await client.post(
        "/api/v1/events", json=I10 | {"seats": 20}, headers=organiser.headers
    )
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "seats"


async def test_a_hub_may_retransmit_one_of_our_events_and_nothing_else(
    client: Client, organiser: Staff
) -> None:
    session = await create(client, organiser, I10)
    hub = await create(client, organiser, HUB | {"retransmits_id": session["id"]})
    assert hub["retransmits_id"] == session["id"]
    other = await create(client, organiser, HUB)
    refused = {
        "internet10 retransmitting": ("POST", "", I10 | {"retransmits_id": session["id"]}),
        "unknown event": ("POST", "", HUB | {"retransmits_id": 999}),
        "a hub": ("POST", "", HUB | {"retransmits_id": other["id"]}),
        "itself": ("PATCH", f"/{other['id']}", {"retransmits_id": other["id"]}),
        "zero": ("POST", "", HUB | {"retransmits_id": 0}),
        "text": ("POST", "", HUB | {"retransmits_id": "1"}),
    }
    for why, (method, path, body) in refused.items():
        response = await client.open(
            f"/api/v1/events{path}", method=method, json=body, headers=organiser.headers
        )
        assert response.status_code == 422, why
        assert (await response.get_json())["field"] == "retransmits_id", why
    moved = await client.patch(
        f"/api/v1/events/{other['id']}",
        json={"retransmits_id": session["id"]},
        headers=organiser.headers,
    )
    assert (moved.status_code, (await moved.get_json())["retransmits_id"]) == (200, session["id"])


async def test_body_over_the_limit_is_413(client: Client, organiser: Staff) -> None:
    response = await client.post(
        "/api/v1/events",
        json=HUB | {"description": "x" * 2_000_000},
        headers=organiser.headers,
    )
    assert response.status_code == 413
    assert (await response.get_json())["code"] == "REQUEST_ENTITY_TOO_LARGE"


async def test_anonymous_cannot_create(client: Client) -> None:
    response = await client.post("/api/v1/events", json=HUB)
    assert response.status_code == 401
    assert (await response.get_json())["code"] == "NOT_AUTHENTICATED"


async def test_bad_token_is_401_not_anonymous(client: Client) -> None:
    response = await client.get("/api/v1/events", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    response = await client.get("/api/v1/events", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


async def test_delegate_cannot_create(client: Client, database: Database, now: dt.datetime) -> None:
    from internet10.models import Chapter

    async with database.write() as db:
        db.add(
            Chapter(
                code="BJ",
                name="ISOC Benin",
                country="BJ",
                timezone="Africa/Porto-Novo",
                languages=["fr"],
                created_at=now,
            )
        )
    delegate = await make_staff(
        database, "d@example.org", Role.DELEGATE, now=now, chapter_code="BJ"
    )
    response = await client.post("/api/v1/events", json=HUB, headers=delegate.headers)
    assert response.status_code == 403
    assert (await response.get_json())["code"] == "FORBIDDEN"


async def test_drafts_are_hidden_until_published(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, HUB)
    assert (await client.get(f"/api/v1/events/{event['id']}")).status_code == 404
    assert (await (await client.get("/api/v1/events")).get_json()) == {"events": []}
    listed = await (await client.get("/api/v1/events", headers=organiser.headers)).get_json()
    assert [e["id"] for e in listed["events"]] == [event["id"]]

    published = await client.post(
        f"/api/v1/events/{event['id']}/publish", headers=organiser.headers
    )
    assert published.status_code == 200
    assert (await published.get_json())["status"] == "published"
    public = await client.get(f"/api/v1/events/{event['id']}")
    assert public.status_code == 200
    assert (await public.get_json())["sequence"] == 1


async def test_list_filters_by_kind(client: Client, organiser: Staff) -> None:
    hub = await create(client, organiser, HUB)
    i10 = await create(client, organiser, I10)
    hubs = await (await client.get("/api/v1/events?kind=hub", headers=organiser.headers)).get_json()
    assert [e["id"] for e in hubs["events"]] == [hub["id"]]
    both = await (await client.get("/api/v1/events", headers=organiser.headers)).get_json()
    assert [e["id"] for e in both["events"]] == [hub["id"], i10["id"]]
    bad = await client.get("/api/v1/events?kind=party")
    assert bad.status_code == 422
    assert (await bad.get_json())["field"] == "kind"


async def test_patch_changes_only_given_fields_and_moves_slots(
    client: Client, organiser: Staff, database: Database
) -> None:
    event = await create(client, organiser, I10)
    response = await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-19T15:00:00+01:00", "title": "Internet10 — édition 2026"},
        headers=organiser.headers,
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["starts_at"] == "2026-12-19T14:00:00Z"
    assert body["title"] == "Internet10 — édition 2026"
    assert body["capacity"] == 300
    assert body["sequence"] == 1
    from internet10.services.events import event_slots

    async with database.read() as db:
        first = (await event_slots(db, event["id"]))[0]
    assert first.starts_at == dt.datetime(2026, 12, 19, 14, 15, tzinfo=dt.UTC)


async def test_patch_with_bad_zone_names_the_field(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, HUB)
    response = await client.patch(
        f"/api/v1/events/{event['id']}", json={"timezone": "UTC+1"}, headers=organiser.headers
    )
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "timezone"


async def test_cancelled_events_cannot_change_or_publish(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, HUB)
    cancelled = await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    assert (await cancelled.get_json())["status"] == "cancelled"
    again = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert again.status_code == 409
    assert (await again.get_json())["code"] == "INVALID_STATUS_CHANGE"
    patched = await client.patch(
        f"/api/v1/events/{event['id']}", json={"title": "x"}, headers=organiser.headers
    )
    assert patched.status_code == 409
    assert (await patched.get_json())["code"] == "EVENT_CLOSED"


async def test_publish_twice_is_harmless(client: Client, organiser: Staff) -> None:
    event = await create(client, organiser, HUB)
    first = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    second = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert first.status_code == second.status_code == 200
    assert (await second.get_json())["sequence"] == 1


async def test_unknown_event_is_404(client: Client, organiser: Staff) -> None:
    for path in ("/api/v1/events/999", "/api/v1/events/999/publish"):
        method = client.get if path.endswith("999") else client.post
        response = await method(path, headers=organiser.headers)
        assert response.status_code == 404
        assert (await response.get_json())["code"] == "NOT_FOUND"


async def test_openapi_lists_the_events_api(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert set(spec["paths"]) >= {
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/events/{event_id}/publish",
        "/api/v1/events/{event_id}/cancel",
        "/healthz",
        "/readyz",
    }
    assert set(spec["paths"]["/api/v1/events"]) == {"get", "post"}
    assert not any(p.startswith(("/login", "/staff", "/events/")) for p in spec["paths"])


async def test_organiser_changes_the_running_order(
    client: Client, organiser: Staff, database: Database
) -> None:
    event = await create(client, organiser, I10)
    response = await client.put(
        f"/api/v1/events/{event['id']}/agenda",
        json={
            "opening": 10,
            "slots": 8,
            "presentation": 20,
            "debate": 10,
            "breaks": [{"after_slot": 4, "minutes": 15}],
            "closing": 5,
        },
        headers=organiser.headers,
    )
    assert response.status_code == 200
    assert (await response.get_json())["total_minutes"] == 270
    from internet10.services.events import event_slots

    async with database.read() as db:
        slots = await event_slots(db, event["id"])
    assert [s.starts_at.strftime("%H:%M") for s in slots] == [
        "12:10",
        "12:40",
        "13:10",
        "13:40",
        "14:25",
        "14:55",
        "15:25",
        "15:55",
    ]
    too_long = await client.put(
        f"/api/v1/events/{event['id']}/agenda", json={"slots": 12}, headers=organiser.headers
    )
    assert too_long.status_code == 422
    assert (await too_long.get_json())["code"] == "AGENDA_TOO_LONG"
    bad_break = await client.put(
        f"/api/v1/events/{event['id']}/agenda",
        json={"breaks": [{"after_slot": 10, "minutes": 5}]},
        headers=organiser.headers,
    )
    assert bad_break.status_code == 422
    assert (await bad_break.get_json())["field"] == "breaks"


@pytest.mark.parametrize("raw", ["99999999999999999999", "2147483648", "0", "-1"])
async def test_ids_outside_the_column_range_are_404(client: Client, raw: str) -> None:
    for path in (f"/api/v1/events/{raw}", f"/events/{raw}", f"/api/v1/slots/{raw}/live"):
        method = client.post if path.endswith("live") else client.get
        response = await method(path)
        assert response.status_code == 404, path
