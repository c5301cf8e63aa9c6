"""The Zoom stand-in on its own: Zoom's shapes and error bodies, its fault switches, and the
meeting room page that sends signed webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from integrations.zoom import MeetingSpec, webhook_signature
from integrations.zoom.adapter import ZoomMeetings
from integrations.zoom.standin import ZoomStandIn
from tests.clock import Clock
from tests.zoom.conftest import WEBHOOK_SECRET, WebhookReceiver, make_adapter

pytestmark = pytest.mark.integration

SPEC = MeetingSpec(
    topic="Hub AfIGF — Cotonou",
    starts_at=dt.datetime(2031, 4, 2, 12, 0, tzinfo=dt.UTC),
    duration_minutes=60,
    timezone="Africa/Porto-Novo",
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def hooked(receiver: WebhookReceiver) -> AsyncIterator[ZoomStandIn]:
    async with ZoomStandIn(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET) as server:
        yield server


async def token_for(http: aiohttp.ClientSession, standin: ZoomStandIn) -> str:
    async with http.post(
        standin.oauth_url,
        data={"grant_type": "account_credentials", "account_id": standin.account_id},
        headers=basic(standin.client_id, standin.client_secret),
    ) as response:
        assert response.status == 200
        body = await response.json()
    return str(body["access_token"])


def basic(login: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Zoom's check, written out independently of the code under test."""
    timestamp = headers["x-zm-request-timestamp"]
    message = f"v0:{timestamp}:{body.decode('utf-8')}".encode()
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-zm-signature"])


async def test_token_endpoint_answers_zoom_shape(
    http: aiohttp.ClientSession, standin: ZoomStandIn
) -> None:
    async with http.post(
        standin.oauth_url,
        data={"grant_type": "account_credentials", "account_id": standin.account_id},
        headers=basic(standin.client_id, standin.client_secret),
    ) as response:
        body = await response.json()

    assert response.status == 200
    assert sorted(body) == ["access_token", "expires_in", "scope", "token_type"]
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)


async def test_token_endpoint_refuses_wrong_secret(
    http: aiohttp.ClientSession, standin: ZoomStandIn
) -> None:
    async with http.post(
        standin.oauth_url,
        data={"grant_type": "account_credentials", "account_id": standin.account_id},
        headers=basic(standin.client_id, "wrong"),
    ) as response:
        body = await response.json()

    assert response.status == 401
    assert body == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}


@pytest.mark.parametrize("authorization", [None, "Bearer None", "Bearer made-up"])
async def test_api_refuses_unknown_bearer_with_code_124(
    http: aiohttp.ClientSession, standin: ZoomStandIn, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with http.get(f"{standin.api_url}/meetings/1", headers=headers) as response:
        body = await response.json()

    assert response.status == 401
    assert body == {"code": 124, "message": "Invalid access token."}


async def test_tokens_expire_after_ttl(http: aiohttp.ClientSession) -> None:
    async with ZoomStandIn(token_ttl=60) as standin:
        token = await token_for(http, standin)
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{standin.api_url}/meetings/1", headers=headers) as response:
            assert response.status == 404  # accepted, and the meeting does not exist

        standin.advance(60)
        async with http.get(f"{standin.api_url}/meetings/1", headers=headers) as response:
            body = await response.json()

    assert response.status == 401
    assert body == {"code": 124, "message": "Access token is expired."}


async def test_meeting_shape_and_missing_meeting(
    http: aiohttp.ClientSession, standin: ZoomStandIn
) -> None:
    token = await token_for(http, standin)
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(
        f"{standin.api_url}/users/me/meetings",
        json={"topic": "No registration", "type": 2, "start_time": "2031-04-02T12:00:00Z"},
        headers=headers,
    ) as response:
        plain = await response.json()
    async with http.get(f"{standin.api_url}/meetings/{plain['id']}", headers=headers) as response:
        fetched = await response.json()
    async with http.get(f"{standin.api_url}/meetings/42", headers=headers) as response:
        missing = await response.json()

    assert isinstance(plain["id"], int)
    assert "registration_url" not in plain  # registration is off by default (approval_type 2)
    assert fetched == plain
    assert response.status == 404
    assert missing == {"code": 3001, "message": "Meeting does not exist: 42."}


async def test_meeting_with_registration_has_registration_url(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await zoom.create_meeting(SPEC)

    stored = standin.meetings[int(meeting.provider_id)]
    assert stored["settings"]["approval_type"] == 0
    assert isinstance(stored["id"], int)
    assert stored["id"] > 2**32  # Zoom's ids do not fit in 32 bits


async def test_fail_next_lasts_n_requests(
    http: aiohttp.ClientSession, standin: ZoomStandIn
) -> None:
    token = await token_for(http, standin)
    headers = {"Authorization": f"Bearer {token}"}
    standin.fail_next(2, 429, retry_after="2031-03-15T00:00:00Z")

    statuses = []
    retry_after = []
    for _ in range(3):
        async with http.get(f"{standin.api_url}/meetings/1", headers=headers) as response:
            statuses.append(response.status)
            retry_after.append(response.headers.get("Retry-After"))

    assert statuses == [429, 429, 404]
    assert retry_after == ["2031-03-15T00:00:00Z", "2031-03-15T00:00:00Z", None]


async def test_report_refuses_a_forged_page_token(
    http: aiohttp.ClientSession, standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await zoom.create_meeting(SPEC)
    token = await token_for(http, standin)
    async with http.get(
        f"{standin.api_url}/report/meetings/{meeting.provider_id}/participants",
        params={"page_size": "300", "next_page_token": "!!not-a-token"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        body = await response.json()

    assert (response.status, body["code"]) == (400, 300)


async def test_report_endpoint_pages_by_token(
    http: aiohttp.ClientSession, standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await zoom.create_meeting(SPEC)
    join = dt.datetime(2031, 4, 2, 12, 0, tzinfo=dt.UTC)
    for i in range(5):
        standin.record_participant(
            meeting.provider_id, f"P{i}", None, None, join, join + dt.timedelta(minutes=1)
        )
    token = await token_for(http, standin)
    url = f"{standin.api_url}/report/meetings/{meeting.provider_id}/participants"
    names: list[str] = []
    pages: list[dict[str, Any]] = []
    page_token = ""
    while True:
        params = {"page_size": "2"} | ({"next_page_token": page_token} if page_token else {})
        async with http.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            page = await response.json()
        pages.append(page)
        names += [row["name"] for row in page["participants"]]
        page_token = page["next_page_token"]
        if not page_token:
            break

    assert names == ["P0", "P1", "P2", "P3", "P4"]
    assert [(p["page_count"], p["total_records"]) for p in pages] == [(3, 5)] * 3


@pytest.mark.parametrize(
    ("first_name", "last_name"), [("Aïcha", "Zinsou"), ("小龍", "李"), ("Kofi", "Mensah")]
)
async def test_room_page_sends_signed_joined_webhook(
    http: aiohttp.ClientSession,
    hooked: ZoomStandIn,
    receiver: WebhookReceiver,
    clock: Clock,
    first_name: str,
    last_name: str,
) -> None:
    zoom = make_adapter(hooked, clock)
    meeting = await zoom.create_meeting(SPEC)
    registrant = await zoom.add_registrant(
        meeting.provider_id, "someone@example.org", first_name, last_name
    )

    before = int(time.time())
    async with http.get(registrant.join_url) as response:
        page = await response.text()

    assert response.status == 200
    assert "You are in the meeting" in page
    assert f"{first_name} {last_name}" in page
    assert hooked.webhook_deliveries == [("meeting.participant_joined", 200)]
    [delivery] = receiver.deliveries
    assert verify(WEBHOOK_SECRET, delivery.headers, delivery.body)
    assert not verify("another-secret", delivery.headers, delivery.body)
    assert f"{first_name} {last_name}".encode() in delivery.body  # raw UTF-8, not \u escapes
    assert abs(int(delivery.headers["x-zm-request-timestamp"]) - before) <= 2
    event = json.loads(delivery.body)
    participant = event["payload"]["object"].pop("participant")
    assert event["event"] == "meeting.participant_joined"
    assert abs(event["event_ts"] - before * 1000) < 3000
    assert event["payload"]["object"]["id"] == meeting.provider_id
    assert event["payload"]["object"]["uuid"] == meeting.uuid
    assert participant["user_name"] == f"{first_name} {last_name}"
    assert participant["registrant_id"] == registrant.provider_id
    assert participant["email"] == "someone@example.org"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", participant["join_time"])
    assert participant["participant_uuid"]


async def test_leave_button_sends_signed_left_webhook_and_fills_report(
    http: aiohttp.ClientSession, hooked: ZoomStandIn, receiver: WebhookReceiver, clock: Clock
) -> None:
    zoom = make_adapter(hooked, clock)
    meeting = await zoom.create_meeting(SPEC)
    registrant = await zoom.add_registrant(meeting.provider_id, "a@example.ci", "Aïcha", "Zinsou")
    async with http.get(registrant.join_url) as response:
        page = await response.text()
    action = re.search(r'action="([^"]+)"', page)
    participant_uuid = re.search(r'name="participant_uuid" value="([^"]+)"', page)
    assert action is not None
    assert participant_uuid is not None
    hooked.advance(125)

    async with http.post(
        hooked.base_url + action.group(1),
        data={"participant_uuid": participant_uuid.group(1)},
    ) as response:
        left_page = await response.text()

    assert "You left the meeting" in left_page
    assert [d[0] for d in hooked.webhook_deliveries] == [
        "meeting.participant_joined",
        "meeting.participant_left",
    ]
    left = receiver.deliveries[1]
    assert verify(WEBHOOK_SECRET, left.headers, left.body)
    participant = json.loads(left.body)["payload"]["object"]["participant"]
    assert participant["participant_uuid"] == participant_uuid.group(1)
    assert participant["leave_reason"] == "left the meeting"
    [person] = await zoom.participants(meeting.uuid)
    assert (person.name, person.registrant_id, person.duration) == (
        "Aïcha Zinsou",
        registrant.provider_id,
        125,
    )


async def test_room_page_refuses_unknown_or_cancelled_link(
    http: aiohttp.ClientSession, hooked: ZoomStandIn, receiver: WebhookReceiver, clock: Clock
) -> None:
    zoom = make_adapter(hooked, clock)
    meeting = await zoom.create_meeting(SPEC)
    registrant = await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")
    await zoom.cancel_registrant(meeting.provider_id, registrant.provider_id)

    async with http.get(registrant.join_url) as cancelled:
        pass
    async with http.get(f"{hooked.base_url}/w/{meeting.provider_id}?tk=forged") as forged:
        pass

    assert (cancelled.status, forged.status) == (404, 404)
    assert receiver.deliveries == []


async def test_room_page_without_webhook_settings_sends_nothing(
    http: aiohttp.ClientSession, standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await zoom.create_meeting(SPEC)
    registrant = await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")

    async with http.get(registrant.join_url) as response:
        assert response.status == 200

    assert standin.webhook_deliveries == []


async def test_webhook_to_unreachable_receiver_is_recorded(
    http: aiohttp.ClientSession, clock: Clock
) -> None:
    async with ZoomStandIn(
        webhook_url="http://127.0.0.1:9/webhooks/zoom", webhook_secret=WEBHOOK_SECRET
    ) as standin:
        zoom = make_adapter(standin, clock)
        meeting = await zoom.create_meeting(SPEC)
        registrant = await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")
        async with http.get(registrant.join_url) as response:
            assert response.status == 200

        [(event, outcome)] = standin.webhook_deliveries
    assert event == "meeting.participant_joined"
    assert isinstance(outcome, str)
    assert outcome.startswith("ClientConnectorError")


async def test_down_refuses_connections_until_up(
    http: aiohttp.ClientSession, standin: ZoomStandIn
) -> None:
    await standin.down()
    with pytest.raises(aiohttp.ClientConnectorError):
        await http.post(standin.oauth_url)

    await standin.up()
    assert await token_for(http, standin)


def test_webhook_signature_matches_zoom_sample() -> None:
    body = '{"event":"meeting.participant_joined","payload":{"name":"Aïcha"}}'.encode()
    expected = hmac.new(b"s3cret", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()

    assert webhook_signature("s3cret", "1700000000", body) == "v0=" + expected
