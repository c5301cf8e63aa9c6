"""The real google-api-python-client YouTube Live adapter against the Google stand-in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.google import BroadcastSpec, GoogleError, LiveStream
from integrations.google.adapter import YouTubeLive
from integrations.google.standin import GoogleStandIn
from tests.clock import Clock
from tests.google.conftest import make_youtube

pytestmark = pytest.mark.integration

BROADCASTS = "/youtube/v3/liveBroadcasts"
STREAMS = "/youtube/v3/liveStreams"
BIND = f"{BROADCASTS}/bind"
TRANSITION = f"{BROADCASTS}/transition"
TOKEN = ("POST", "/token")

HUB = BroadcastSpec(
    title="Hub IGF 2031 — Cotonou",
    starts_at=dt.datetime(2031, 12, 10, 9, 0, tzinfo=ZoneInfo("Africa/Porto-Novo")),  # 08:00Z
    ends_at=dt.datetime(2031, 12, 10, 12, 0, tzinfo=ZoneInfo("Africa/Porto-Novo")),
    description="Retransmission of the IGF opening session.",
    privacy="public",
)


def bodies(standin: GoogleStandIn, method: str, path: str) -> list[object]:
    return [s.body for s in standin.requests if (s.method, s.path) == (method, path)]


def queries(standin: GoogleStandIn, path: str) -> list[dict[str, str]]:
    return [s.query for s in standin.requests if s.path == path]


async def test_create_live_makes_stream_and_broadcast_and_binds_them(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    live = await youtube.create_live("hub:12", HUB)

    assert standin.calls() == [
        ("GET", STREAMS),
        ("POST", STREAMS),
        ("GET", BROADCASTS),
        ("POST", BROADCASTS),
        ("POST", BIND),
    ]
    assert bodies(standin, "POST", STREAMS) == [
        {
            "snippet": {"title": "Hub IGF 2031 — Cotonou", "description": "internet10 key: hub:12"},
            "cdn": {"ingestionType": "rtmp", "resolution": "variable", "frameRate": "variable"},
            "contentDetails": {"isReusable": False},
        }
    ]
    assert bodies(standin, "POST", BROADCASTS) == [
        {
            "snippet": {
                "title": "Hub IGF 2031 — Cotonou",
                "description": "Retransmission of the IGF opening session.",
                "scheduledStartTime": "2031-12-10T08:00:00Z",
                "scheduledEndTime": "2031-12-10T11:00:00Z",
            },
            "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
            "contentDetails": {
                "enableAutoStart": False,
                "enableAutoStop": False,
                "enableMonitorStream": True,
                "enableDvr": True,
                "recordFromStart": True,
            },
        }
    ]
    [stream] = standin.streams.values()
    [broadcast] = standin.broadcasts.values()
    assert queries(standin, BIND) == [
        {
            "id": broadcast["id"],
            "part": "id,contentDetails,status",
            "streamId": stream["id"],
            "alt": "json",
        }
    ]
    assert broadcast["contentDetails"]["boundStreamId"] == stream["id"]
    assert broadcast["status"]["lifeCycleStatus"] == "ready"
    ingestion = stream["cdn"]["ingestionInfo"]
    assert live == LiveStream(
        broadcast_id=broadcast["id"],
        stream_id=stream["id"],
        ingestion_address=ingestion["ingestionAddress"],
        stream_name=ingestion["streamName"],
        watch_url=f"{standin.base_url}/watch?v={broadcast['id']}",
    )
    assert live.ingestion_address == "rtmp://127.0.0.1:1935/live2"
    assert live.stream_name not in repr(live)  # the stream key is a secret


async def test_create_live_again_finds_what_exists(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    first = await youtube.create_live("hub:12", HUB)

    again = await youtube.create_live("hub:12", HUB)

    assert again == first
    assert standin.calls()[5:] == [("GET", STREAMS), ("GET", BROADCASTS)]  # no insert, no bind
    assert (len(standin.streams), len(standin.broadcasts)) == (1, 1)


async def test_create_live_after_a_failed_bind_reuses_the_unbound_broadcast(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    standin.fail_next(1, 503, method="POST", path=BIND)
    with pytest.raises(GoogleError) as caught:
        await youtube.create_live("hub:12", HUB)
    assert (caught.value.status, caught.value.retryable) == (503, True)

    live = await youtube.create_live("hub:12", HUB)

    assert (len(standin.streams), len(standin.broadcasts)) == (1, 1)
    assert standin.calls()[5:] == [("GET", STREAMS), ("GET", BROADCASTS), ("POST", BIND)]
    assert standin.broadcasts[live.broadcast_id]["contentDetails"]["boundStreamId"] == (
        live.stream_id
    )


async def test_create_live_after_a_failed_broadcast_insert_reuses_the_stream(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    standin.fail_next(1, 500, method="POST", path=BROADCASTS)
    with pytest.raises(GoogleError):
        await youtube.create_live("hub:12", HUB)

    await youtube.create_live("hub:12", HUB)

    assert (len(standin.streams), len(standin.broadcasts)) == (1, 1)


async def test_two_keys_get_two_broadcasts(standin: GoogleStandIn, youtube: YouTubeLive) -> None:
    hub = await youtube.create_live("hub:12", HUB)
    overflow = await youtube.create_live(
        "event:3:overflow",
        BroadcastSpec(title="Internet10 2031", starts_at=dt.datetime(2031, 5, 4, 9, tzinfo=dt.UTC)),
    )

    assert hub.broadcast_id != overflow.broadcast_id
    assert hub.stream_id != overflow.stream_id
    assert hub.stream_name != overflow.stream_name
    assert "scheduledEndTime" not in standin.broadcasts[overflow.broadcast_id]["snippet"]


async def test_lists_read_every_page(standin: GoogleStandIn, youtube: YouTubeLive) -> None:
    """Over 50 streams (YouTube's largest page), ours on the second page, is still found."""
    for i in range(60):
        await youtube.create_live(
            f"old:{i}",
            BroadcastSpec(title=f"Old {i}", starts_at=dt.datetime(2031, 1, 1, tzinfo=dt.UTC)),
        )
    before = len(standin.requests)

    again = await youtube.create_live(
        "old:55", BroadcastSpec(title="Old 55", starts_at=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    )

    assert standin.calls()[before:] == [
        ("GET", STREAMS),
        ("GET", STREAMS),
        ("GET", BROADCASTS),
        ("GET", BROADCASTS),
    ]
    assert queries(standin, STREAMS)[-1]["maxResults"] == "50"
    assert again.stream_id in standin.streams
    assert len(standin.broadcasts) == 60


async def test_transitions_in_order(standin: GoogleStandIn, youtube: YouTubeLive) -> None:
    live = await youtube.create_live("hub:12", HUB)
    seen = []

    for status in ("testing", "live", "complete"):
        await youtube.transition(live.broadcast_id, status)
        seen.append(standin.broadcasts[live.broadcast_id]["status"]["lifeCycleStatus"])

    assert seen == ["testing", "live", "complete"]
    assert [(q["broadcastStatus"], q["id"]) for q in queries(standin, TRANSITION)] == [
        ("testing", live.broadcast_id),
        ("live", live.broadcast_id),
        ("complete", live.broadcast_id),
    ]
    snippet = standin.broadcasts[live.broadcast_id]["snippet"]
    assert snippet["actualStartTime"] <= snippet["actualEndTime"]


async def test_repeated_transition_succeeds(standin: GoogleStandIn, youtube: YouTubeLive) -> None:
    live = await youtube.create_live("hub:12", HUB)
    await youtube.transition(live.broadcast_id, "testing")

    await youtube.transition(live.broadcast_id, "testing")  # a retried job: redundantTransition

    assert standin.broadcasts[live.broadcast_id]["status"]["lifeCycleStatus"] == "testing"


@pytest.mark.parametrize("target", ["live", "complete"])
async def test_skipping_a_step_is_an_invalid_transition(
    standin: GoogleStandIn, youtube: YouTubeLive, target: str
) -> None:
    live = await youtube.create_live("hub:12", HUB)

    with pytest.raises(GoogleError) as caught:
        await youtube.transition(live.broadcast_id, target)  # type: ignore[arg-type]

    assert (caught.value.status, caught.value.reason, caught.value.retryable) == (
        403,
        "invalidTransition",
        False,
    )
    assert caught.value.message == (
        f"YouTube transition broadcast {live.broadcast_id} to {target} failed: "
        "HTTP 403 invalidTransition: Invalid transition"
    )
    assert standin.broadcasts[live.broadcast_id]["status"]["lifeCycleStatus"] == "ready"


async def test_going_live_before_video_arrives_is_retryable(tmp_path: Path, clock: Clock) -> None:
    async with GoogleStandIn(video_arrives=False) as standin:
        youtube = make_youtube(standin, standin.write_user_token_file(tmp_path / "t.json"), clock)
        try:
            live = await youtube.create_live("hub:12", HUB)
            with pytest.raises(GoogleError) as caught:
                await youtube.transition(live.broadcast_id, "testing")
            assert (caught.value.reason, caught.value.retryable) == ("errorStreamInactive", True)

            standin.push_video(live.stream_id)  # Zoom starts pushing
            await youtube.transition(live.broadcast_id, "testing")
        finally:
            await youtube.aclose()

        assert standin.broadcasts[live.broadcast_id]["status"]["lifeCycleStatus"] == "testing"


async def test_update_broadcast_moves_it(standin: GoogleStandIn, youtube: YouTubeLive) -> None:
    live = await youtube.create_live("hub:12", HUB)

    await youtube.update_broadcast(
        live.broadcast_id,
        BroadcastSpec(
            title="Hub IGF 2031 — Cotonou (reporté)",
            starts_at=dt.datetime(2031, 12, 11, 8, 30, tzinfo=dt.UTC),
            privacy="unlisted",
        ),
    )

    broadcast = standin.broadcasts[live.broadcast_id]
    assert bodies(standin, "PUT", BROADCASTS) == [
        {
            "id": live.broadcast_id,
            "snippet": {
                "title": "Hub IGF 2031 — Cotonou (reporté)",
                "description": "",
                "scheduledStartTime": "2031-12-11T08:30:00Z",
            },
            "status": {"privacyStatus": "unlisted"},
        }
    ]
    assert broadcast["snippet"]["title"] == "Hub IGF 2031 — Cotonou (reporté)"
    assert broadcast["snippet"]["scheduledStartTime"] == "2031-12-11T08:30:00Z"
    assert "scheduledEndTime" not in broadcast["snippet"]
    assert broadcast["status"]["privacyStatus"] == "unlisted"
    assert broadcast["contentDetails"]["boundStreamId"] == live.stream_id


async def test_delete_live_removes_both_and_is_repeatable(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    live = await youtube.create_live("hub:12", HUB)

    await youtube.delete_live(live.broadcast_id, live.stream_id)
    await youtube.delete_live(live.broadcast_id, live.stream_id)

    assert (standin.broadcasts, standin.streams) == ({}, {})
    assert standin.calls()[5:] == [("DELETE", BROADCASTS), ("DELETE", STREAMS)] * 2
    assert queries(standin, BROADCASTS)[-1] == {"id": live.broadcast_id}


async def test_expired_stored_token_is_refreshed_before_the_first_call(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock
) -> None:
    token_file = standin.write_user_token_file(tmp_path / "token.json", expired=True)
    stored = json.loads(token_file.read_text(encoding="utf-8"))
    youtube = make_youtube(standin, token_file, clock)

    try:
        await youtube.create_live("hub:12", HUB)
    finally:
        await youtube.aclose()

    assert standin.calls()[:2] == [TOKEN, ("GET", STREAMS)]
    form = standin.requests[0].body
    assert form == {
        "grant_type": "refresh_token",
        "client_id": standin.client_id,
        "client_secret": standin.client_secret,
        "refresh_token": stored["refresh_token"],
        "scope": "https://www.googleapis.com/auth/youtube",
    }
    assert standin.calls().count(TOKEN) == 1


async def test_token_expired_on_googles_side_is_refreshed_and_the_call_repeated(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    live = await youtube.create_live("hub:12", HUB)
    standin.expire_tokens()

    await youtube.transition(live.broadcast_id, "testing")

    assert standin.calls()[5:] == [("POST", TRANSITION), TOKEN, ("POST", TRANSITION)]


async def test_revoked_consent_is_not_retryable_and_says_to_authorise_again(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock
) -> None:
    token_file = standin.write_user_token_file(tmp_path / "token.json", expired=True)
    standin.revoke_refresh_tokens()
    youtube = make_youtube(standin, token_file, clock)

    try:
        with pytest.raises(GoogleError) as caught:
            await youtube.create_live("hub:12", HUB)
    finally:
        await youtube.aclose()

    assert (caught.value.reason, caught.value.retryable, caught.value.status) == (
        "invalid_grant",
        False,
        None,
    )
    assert caught.value.message == (
        "YouTube token request failed (list streams): invalid_grant: Token has been expired or "
        "revoked.; the stored YouTube authorisation was revoked or has expired: authorise again"
    )
    assert standin.calls() == [TOKEN]


async def test_token_file_endpoint_override_wins(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock
) -> None:
    """A token file from Google's own tools names Google's token endpoint; ``token_uri``
    replaces it (else the guard would have tripped)."""
    token_file = standin.write_user_token_file(tmp_path / "token.json", expired=True)
    info = json.loads(token_file.read_text(encoding="utf-8"))
    info["token_uri"] = "https://oauth2.googleapis.com/token"
    token_file.write_text(json.dumps(info), encoding="utf-8")
    youtube = make_youtube(standin, token_file, clock, token_uri=standin.token_uri)

    try:
        await youtube.create_live("hub:12", HUB)
    finally:
        await youtube.aclose()

    assert standin.calls()[0] == TOKEN


async def test_missing_token_file_is_not_retryable(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock
) -> None:
    youtube = make_youtube(standin, tmp_path / "nowhere.json", clock)

    with pytest.raises(GoogleError) as caught:
        await youtube.create_live("hub:12", HUB)

    assert caught.value.retryable is False
    assert caught.value.message.startswith(
        f"cannot read the YouTube token file {tmp_path / 'nowhere.json'}:"
    )
    assert standin.requests == []


async def test_token_file_without_refresh_token_is_refused(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock
) -> None:
    token_file = tmp_path / "token.json"
    token_file.write_text('{"token": "ya29.x", "client_id": "c"}', encoding="utf-8")
    youtube = make_youtube(standin, token_file, clock)

    with pytest.raises(GoogleError) as caught:
        await youtube.create_live("hub:12", HUB)

    assert caught.value.message == (
        f"the YouTube token file {token_file} lacks refresh_token, client_secret: authorise again"
    )
