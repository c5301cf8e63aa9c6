"""The real zoomus-based adapter against the Zoom stand-in over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from integrations.zoom import Meeting, MeetingSpec, Participant, ProviderError, Registrant
from integrations.zoom.adapter import ZoomMeetings
from integrations.zoom.standin import ZoomStandIn
from tests.clock import Clock
from tests.zoom.conftest import make_adapter

pytestmark = pytest.mark.integration

ABIDJAN_SPEC = MeetingSpec(
    topic="Internet10 — Côte d'Ivoire",
    starts_at=dt.datetime(2031, 4, 2, 14, 0, tzinfo=ZoneInfo("Europe/Paris")),  # 12:00 UTC
    duration_minutes=150,
    timezone="Africa/Abidjan",
    alternative_hosts=("mod1@example.org", "mod2@example.org"),
    waiting_room=True,
)

TOKEN = ("POST", "/oauth/token")


def token_requests(standin: ZoomStandIn) -> int:
    return standin.requests.count(TOKEN)


async def created(zoom: ZoomMeetings) -> Meeting:
    return await zoom.create_meeting(ABIDJAN_SPEC)


async def test_adapter_construction_makes_no_request(standin: ZoomStandIn, clock: Clock) -> None:
    make_adapter(standin, clock)
    await asyncio.sleep(0)
    assert standin.requests == []


async def test_create_meeting_sends_utc_start_and_settings(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)

    assert standin.requests == [TOKEN, ("POST", "/v2/users/me/meetings")]
    _, _, body = standin.bodies[0]
    assert body["start_time"] == "2031-04-02T12:00:00Z"
    assert {k: v for k, v in body.items() if k != "start_time"} == {
        "user_id": "me",
        "topic": "Internet10 — Côte d'Ivoire",
        "type": 2,
        "duration": 150,
        "timezone": "Africa/Abidjan",
        "settings": {
            "approval_type": 0,
            "waiting_room": True,
            "join_before_host": False,
            "alternative_hosts": "mod1@example.org,mod2@example.org",
            "registrants_confirmation_email": False,
            "registrants_email_notification": False,
        },
    }
    stored = standin.meetings[int(meeting.provider_id)]
    assert meeting == Meeting(
        provider_id=str(stored["id"]),
        uuid=stored["uuid"],
        join_url=stored["join_url"],
        start_url=stored["start_url"],
    )
    assert stored["start_time"] == "2031-04-02T12:00:00Z"
    assert stored["settings"]["approval_type"] == 0


async def test_wrong_credentials_are_not_retryable(standin: ZoomStandIn, clock: Clock) -> None:
    zoom = ZoomMeetings(
        standin.account_id,
        standin.client_id,
        "not-the-secret",
        standin.api_url,
        standin.oauth_url,
        clock=clock,
    )
    with pytest.raises(ProviderError) as caught:
        await created(zoom)

    assert caught.value.retryable is False
    assert "credentials" in caught.value.message
    assert standin.requests == [TOKEN]  # no API call with "Bearer None"


async def test_update_meeting_moves_time_and_duration(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)
    later = MeetingSpec(
        topic="Internet10 — Côte d'Ivoire (moved)",
        starts_at=dt.datetime(2031, 4, 3, 9, 15, tzinfo=dt.UTC),
        duration_minutes=90,
        timezone="Africa/Abidjan",
        alternative_hosts=("mod3@example.org",),
        waiting_room=False,
    )

    await zoom.update_meeting(meeting.provider_id, later)

    stored = standin.meetings[int(meeting.provider_id)]
    assert standin.requests[-1] == ("PATCH", f"/v2/meetings/{meeting.provider_id}")
    assert (stored["topic"], stored["start_time"], stored["duration"]) == (
        "Internet10 — Côte d'Ivoire (moved)",
        "2031-04-03T09:15:00Z",
        90,
    )
    assert stored["settings"]["alternative_hosts"] == "mod3@example.org"
    assert stored["settings"]["waiting_room"] is False


async def test_delete_meeting_twice_is_fine(standin: ZoomStandIn, zoom: ZoomMeetings) -> None:
    meeting = await created(zoom)

    await zoom.delete_meeting(meeting.provider_id)
    await zoom.delete_meeting(meeting.provider_id)

    assert standin.meetings == {}
    assert standin.requests[-2:] == [("DELETE", f"/v2/meetings/{meeting.provider_id}")] * 2


async def test_update_missing_meeting_is_not_retryable_with_zoom_code(zoom: ZoomMeetings) -> None:
    with pytest.raises(ProviderError) as caught:
        await zoom.update_meeting("81000000001", ABIDJAN_SPEC)

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (404, 3001, False)
    assert caught.value.retry_at is None
    assert "Meeting does not exist: 81000000001." in caught.value.message


async def test_registrants_get_distinct_personal_join_urls(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)

    aicha = await zoom.add_registrant(meeting.provider_id, "aicha@example.ci", "Aïcha", "Zinsou")
    bruce = await zoom.add_registrant(meeting.provider_id, "lee@example.hk", "小龍", "李")
    again = await zoom.add_registrant(meeting.provider_id, "AICHA@example.ci", "Aïcha", "Zinsou")

    assert aicha.provider_id != bruce.provider_id
    assert aicha.join_url != bruce.join_url
    assert aicha.join_url.startswith(f"{standin.base_url}/w/{meeting.provider_id}?tk=")
    assert bruce.join_url.startswith(f"{standin.base_url}/w/{meeting.provider_id}?tk=")
    assert aicha.join_url != meeting.join_url
    assert again == aicha
    assert standin.registrants(meeting.provider_id) == [
        {"id": aicha.provider_id, "email": "aicha@example.ci", "status": "approved"},
        {"id": bruce.provider_id, "email": "lee@example.hk", "status": "approved"},
    ]


async def test_cancel_registrant(standin: ZoomStandIn, zoom: ZoomMeetings) -> None:
    meeting = await created(zoom)
    aicha = await zoom.add_registrant(meeting.provider_id, "aicha@example.ci", "Aïcha", "Zinsou")

    await zoom.cancel_registrant(meeting.provider_id, aicha.provider_id)

    assert standin.registrants(meeting.provider_id) == [
        {"id": aicha.provider_id, "email": "aicha@example.ci", "status": "cancelled"}
    ]
    method, path, body = standin.bodies[-1]
    assert (method, path) == ("PUT", f"/v2/meetings/{meeting.provider_id}/registrants/status")
    assert body["action"] == "cancel"
    assert body["registrants"] == [{"id": aicha.provider_id}]


async def test_expired_token_mid_run_is_refreshed_transparently(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)
    standin.expire_tokens()

    registrant = await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")

    path = f"/v2/meetings/{meeting.provider_id}/registrants"
    assert standin.requests[1:] == [
        ("POST", "/v2/users/me/meetings"),
        ("POST", path),  # answered 401, code 124
        TOKEN,
        ("POST", path),
    ]
    assert registrant.join_url.startswith(f"{standin.base_url}/w/")


async def test_concurrent_calls_after_expiry_refresh_once(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)
    standin.expire_tokens()

    registrants = await asyncio.gather(
        *(
            zoom.add_registrant(meeting.provider_id, f"p{i}@example.org", f"P{i}", "X")
            for i in range(5)
        )
    )

    assert len({r.join_url for r in registrants}) == 5
    assert token_requests(standin) == 2


async def test_token_refreshed_five_minutes_before_expiry(clock: Clock) -> None:
    async with ZoomStandIn(token_ttl=1800) as standin:
        zoom = make_adapter(standin, clock, token_lifetime=dt.timedelta(seconds=1800))
        meeting = await created(zoom)
        clock.advance(1800 - 301)
        standin.advance(1800 - 301)
        await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")
        assert token_requests(standin) == 1  # still 5 min 1 s to live: kept

        clock.advance(2)
        standin.advance(2)
        await zoom.add_registrant(meeting.provider_id, "b@example.org", "B", "C")

        assert standin.requests[-2:] == [
            TOKEN,  # refreshed before the call, never answered 401
            ("POST", f"/v2/meetings/{meeting.provider_id}/registrants"),
        ]
        assert token_requests(standin) == 2


async def test_rate_limit_with_retry_after_seconds(
    standin: ZoomStandIn, zoom: ZoomMeetings, clock: Clock
) -> None:
    meeting = await created(zoom)
    standin.fail_next(1, 429, retry_after=7)

    with pytest.raises(ProviderError) as caught:
        await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (429, 429, True)
    assert caught.value.retry_at == clock.now + dt.timedelta(seconds=7)


async def test_rate_limit_with_retry_after_iso_date(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    moment = dt.datetime(2031, 3, 14, 9, 45, 30, tzinfo=dt.UTC)
    standin.fail_next(1, 429, retry_after=moment)

    with pytest.raises(ProviderError) as caught:
        await created(zoom)

    assert caught.value.retryable is True
    assert caught.value.retry_at == moment


async def test_daily_limit_without_retry_after_waits_for_midnight_utc(
    standin: ZoomStandIn, zoom: ZoomMeetings, clock: Clock
) -> None:
    clock.now = dt.datetime(2031, 3, 14, 23, 59, 59, tzinfo=dt.UTC)
    standin.fail_next(1, 429)

    with pytest.raises(ProviderError) as caught:
        await created(zoom)

    assert caught.value.retryable is True
    assert caught.value.retry_at == dt.datetime(2031, 3, 15, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    standin: ZoomStandIn, zoom: ZoomMeetings, status: int
) -> None:
    standin.fail_next(1, status)

    with pytest.raises(ProviderError) as caught:
        await created(zoom)

    assert (caught.value.status, caught.value.retryable, caught.value.retry_at) == (
        status,
        True,
        None,
    )
    assert standin.meetings == {}
    await created(zoom)  # the fault was for one request only
    assert len(standin.meetings) == 1


async def test_zoom_down_is_retryable_and_recovers(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)
    await standin.down()

    with pytest.raises(ProviderError) as caught:
        await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")
    assert (caught.value.retryable, caught.value.status) == (True, None)

    await standin.up()
    registrant = await zoom.add_registrant(meeting.provider_id, "a@example.org", "A", "B")
    assert registrant.join_url.startswith(f"{standin.base_url}/w/")


async def test_zoom_down_before_first_token_is_retryable(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    await standin.down()

    with pytest.raises(ProviderError) as caught:
        await created(zoom)
    assert caught.value.retryable is True

    await standin.up()
    await created(zoom)
    assert token_requests(standin) == 1


async def test_slow_answer_beyond_timeout_is_retryable(standin: ZoomStandIn, clock: Clock) -> None:
    zoom = make_adapter(standin, clock, timeout=1)
    standin.slow(1.5)

    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await created(zoom)

    assert caught.value.retryable is True
    assert time.monotonic() - started < 1.5
    standin.slow(0)
    await asyncio.sleep(0.6)  # let the stand-in finish the abandoned answer before teardown


async def test_participants_reads_every_page(standin: ZoomStandIn, zoom: ZoomMeetings) -> None:
    meeting = await created(zoom)
    start = dt.datetime(2031, 4, 2, 12, 0, tzinfo=dt.UTC)
    for i in range(700):
        standin.record_participant(
            meeting.provider_id,
            name=f"Person {i}",
            email=f"p{i}@example.org" if i % 2 else None,
            registrant_id=f"reg{i}" if i % 3 else None,
            join=start + dt.timedelta(seconds=i),
            leave=start + dt.timedelta(seconds=i + 600),
        )

    people = await zoom.participants(meeting.uuid)

    pages = [r for r in standin.requests if r[1].endswith("/participants")]
    assert len(pages) == 3
    assert len(people) == 700
    assert [p.name for p in people] == [f"Person {i}" for i in range(700)]
    assert len({p.key for p in people}) == 700
    assert people[1] == Participant(
        key=people[1].key,
        registrant_id="reg1",
        name="Person 1",
        email="p1@example.org",
        joined_at=dt.datetime(2031, 4, 2, 12, 0, 1, tzinfo=dt.UTC),
        left_at=dt.datetime(2031, 4, 2, 12, 10, 1, tzinfo=dt.UTC),
        duration=600,
    )
    assert (people[0].registrant_id, people[0].email) == (None, None)


async def test_participants_of_a_uuid_with_slashes(
    standin: ZoomStandIn, zoom: ZoomMeetings
) -> None:
    meeting = await created(zoom)
    standin.meetings[int(meeting.provider_id)]["uuid"] = "/ab//cd+ef=="
    join = dt.datetime(2031, 4, 2, 12, 0, tzinfo=dt.UTC)
    standin.record_participant(
        meeting.provider_id, "李小龍", None, None, join, join + dt.timedelta(minutes=5)
    )

    people = await zoom.participants("/ab//cd+ef==")

    assert [(p.name, p.duration) for p in people] == [("李小龍", 300)]


async def test_participants_of_unknown_meeting_is_not_retryable(zoom: ZoomMeetings) -> None:
    with pytest.raises(ProviderError) as caught:
        await zoom.participants("nosuchuuid==")

    assert (caught.value.code, caught.value.retryable) == (3001, False)


async def test_update_live_stream(standin: ZoomStandIn, zoom: ZoomMeetings) -> None:
    meeting = await created(zoom)

    await zoom.update_live_stream(
        meeting.provider_id,
        "rtmp://a.rtmp.youtube.com/live2",
        "abcd-efgh-ijkl",
        "https://www.youtube.com/watch?v=xyz",
    )

    assert standin.live_streams == {
        int(meeting.provider_id): {
            "stream_url": "rtmp://a.rtmp.youtube.com/live2",
            "stream_key": "abcd-efgh-ijkl",
            "page_url": "https://www.youtube.com/watch?v=xyz",
        }
    }


def test_spec_requires_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MeetingSpec(
            topic="x",
            starts_at=dt.datetime(2031, 4, 2, 12, 0),  # naive: the point of the test
            duration_minutes=60,
            timezone="UTC",
        )


def test_registrant_is_our_noun() -> None:
    assert Registrant(provider_id="r", join_url="u") == Registrant("r", "u")
