"""The real google-api-python-client Calendar adapter against the Google stand-in over loopback."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.google import CalendarEvent, GoogleError, event_id_for
from integrations.google.adapter import GoogleCalendar
from integrations.google.standin import JWT_BEARER, GoogleStandIn
from tests.clock import Clock
from tests.google.conftest import CALENDAR_ID, make_calendar

pytestmark = pytest.mark.integration

EVENTS = f"/calendar/v3/calendars/{CALENDAR_ID}/events"
TOKEN = ("POST", "/token")
LINK = "https://internet10.example.org/events/7"

COTE_DIVOIRE = CalendarEvent(
    summary="Internet10 — Côte d'Ivoire : la fibre à Abidjan",
    starts_at=dt.datetime(2031, 4, 2, 14, 0, tzinfo=ZoneInfo("Europe/Paris")),  # 12:00 UTC
    ends_at=dt.datetime(2031, 4, 2, 12, 25, tzinfo=dt.UTC),
    timezone="Africa/Porto-Novo",
    link=LINK,
    description="ISOC Côte d'Ivoire presents, then 10 minutes of debate.",
)


def event_path(event_id: str) -> str:
    return f"{EVENTS}/{event_id}"


def writes(standin: GoogleStandIn) -> list[tuple[str, str, dict[str, str], Any]]:
    return [
        (s.method, s.path, s.query, s.body)
        for s in standin.requests
        if s.path.startswith("/calendar/") and s.method != "GET"
    ]


async def test_construction_reads_and_sends_nothing(standin: GoogleStandIn, clock: Clock) -> None:
    calendar = make_calendar(standin, Path("/nonexistent/key.json"), clock)
    await asyncio.sleep(0)

    assert standin.requests == []
    await calendar.aclose()


async def test_upsert_creates_the_event_with_local_times_and_no_attendees(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    event_id = await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)

    assert event_id == event_id_for("slot:7")
    assert standin.calls() == [TOKEN, ("POST", EVENTS)]
    [(_, _, query, body)] = writes(standin)
    assert query == {"sendUpdates": "none", "alt": "json"}
    assert body == {
        "id": event_id,
        "summary": "Internet10 — Côte d'Ivoire : la fibre à Abidjan",
        "description": f"ISOC Côte d'Ivoire presents, then 10 minutes of debate.\n\n{LINK}",
        "location": LINK,
        "start": {"dateTime": "2031-04-02T13:00:00+01:00", "timeZone": "Africa/Porto-Novo"},
        "end": {"dateTime": "2031-04-02T13:25:00+01:00", "timeZone": "Africa/Porto-Novo"},
        "source": {"title": "Internet10 — Côte d'Ivoire : la fibre à Abidjan", "url": LINK},
        "status": "confirmed",
        "extendedProperties": {"private": {"internet10Key": "slot:7"}},
    }
    stored = standin.events(CALENDAR_ID)[event_id]
    assert stored["status"] == "confirmed"
    assert stored["creator"] == {"email": standin.service_account_email}
    assert "attendees" not in stored


async def test_times_follow_the_zone_across_daylight_saving(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    """The same UTC instants, shown in New York: 14:00 UTC is 09:00 EST in winter and 10:00
    EDT in summer."""
    for key, day in (("winter", dt.date(2031, 1, 15)), ("summer", dt.date(2031, 7, 15))):
        starts_at = dt.datetime.combine(day, dt.time(14, 0), tzinfo=dt.UTC)
        event = CalendarEvent(
            summary=f"Hub IETF ({key})",
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
            timezone="America/New_York",
            link=LINK,
            location="Cotonou, Sèmè City",
        )
        await calendar.upsert_event(CALENDAR_ID, key, event)

    winter = standin.events(CALENDAR_ID)[event_id_for("winter")]
    summer = standin.events(CALENDAR_ID)[event_id_for("summer")]
    assert (winter["start"], winter["end"]) == (
        {"dateTime": "2031-01-15T09:00:00-05:00", "timeZone": "America/New_York"},
        {"dateTime": "2031-01-15T11:00:00-05:00", "timeZone": "America/New_York"},
    )
    assert (summer["start"], summer["end"]) == (
        {"dateTime": "2031-07-15T10:00:00-04:00", "timeZone": "America/New_York"},
        {"dateTime": "2031-07-15T12:00:00-04:00", "timeZone": "America/New_York"},
    )
    assert (winter["location"], winter["description"]) == ("Cotonou, Sèmè City", LINK)


async def test_republishing_never_duplicates(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    first = await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)
    moved = CalendarEvent(
        summary=COTE_DIVOIRE.summary,
        starts_at=dt.datetime(2031, 4, 2, 13, 0, tzinfo=dt.UTC),
        ends_at=dt.datetime(2031, 4, 2, 13, 25, tzinfo=dt.UTC),
        timezone="Africa/Porto-Novo",
        link=LINK,
    )

    second = await calendar.upsert_event(CALENDAR_ID, "slot:7", moved)
    third = await calendar.upsert_event(CALENDAR_ID, "slot:7", moved)

    assert first == second == third
    assert list(standin.events(CALENDAR_ID)) == [first]
    assert standin.calls()[1:] == [
        ("POST", EVENTS),
        ("POST", EVENTS),  # 409 duplicate
        ("PATCH", event_path(first)),
        ("POST", EVENTS),  # 409 duplicate
        ("PATCH", event_path(first)),
    ]
    stored = standin.events(CALENDAR_ID)[first]
    assert stored["start"] == {
        "dateTime": "2031-04-02T14:00:00+01:00",
        "timeZone": "Africa/Porto-Novo",
    }
    assert stored["description"] == LINK  # the old description is gone
    assert stored["sequence"] == 1  # moved once; the identical third publish changed nothing


async def test_update_event_overwrites_everything_we_own(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    event_id = await calendar.upsert_event(
        CALENDAR_ID,
        "session:3",
        CalendarEvent(
            summary="Hub AfIGF — ouverture",
            starts_at=dt.datetime(2031, 9, 10, 8, 0, tzinfo=dt.UTC),
            ends_at=dt.datetime(2031, 9, 10, 9, 0, tzinfo=dt.UTC),
            timezone="Africa/Porto-Novo",
            link=LINK,
            location="Cotonou, Sèmè City",
            description="Salle 2",
        ),
    )

    await calendar.update_event(
        CALENDAR_ID,
        event_id,
        CalendarEvent(
            summary="Hub AfIGF — ouverture (en ligne)",
            starts_at=dt.datetime(2031, 9, 10, 8, 30, tzinfo=dt.UTC),
            ends_at=dt.datetime(2031, 9, 10, 9, 30, tzinfo=dt.UTC),
            timezone="Africa/Lagos",
            link=LINK,
        ),
    )

    stored = standin.events(CALENDAR_ID)[event_id]
    assert standin.calls()[-1] == ("PATCH", event_path(event_id))
    assert writes(standin)[-1][2] == {"sendUpdates": "none", "alt": "json"}
    assert {k: stored[k] for k in ("summary", "description", "location", "start", "end")} == {
        "summary": "Hub AfIGF — ouverture (en ligne)",
        "description": LINK,
        "location": LINK,
        "start": {"dateTime": "2031-09-10T09:30:00+01:00", "timeZone": "Africa/Lagos"},
        "end": {"dateTime": "2031-09-10T10:30:00+01:00", "timeZone": "Africa/Lagos"},
    }
    assert stored["extendedProperties"] == {"private": {"internet10Key": "session:3"}}


async def test_update_of_a_missing_event_is_not_retryable(calendar: GoogleCalendar) -> None:
    with pytest.raises(GoogleError) as caught:
        await calendar.update_event(CALENDAR_ID, event_id_for("never"), COTE_DIVOIRE)

    assert (caught.value.status, caught.value.reason, caught.value.retryable) == (
        404,
        "notFound",
        False,
    )
    assert caught.value.message == (
        f"Google Calendar update event {event_id_for('never')} failed: HTTP 404 notFound: Not Found"
    )


async def test_delete_cancels_and_deleting_again_or_unknown_is_fine(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    event_id = await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)

    await calendar.delete_event(CALENDAR_ID, event_id)
    await calendar.delete_event(CALENDAR_ID, event_id)  # 410 deleted
    await calendar.delete_event(CALENDAR_ID, event_id_for("never"))  # 404

    assert standin.events(CALENDAR_ID)[event_id]["status"] == "cancelled"
    assert [(m, p, q) for m, p, q, _ in writes(standin)[1:]] == [
        ("DELETE", event_path(event_id), {"sendUpdates": "none"}),
        ("DELETE", event_path(event_id), {"sendUpdates": "none"}),
        ("DELETE", event_path(event_id_for("never")), {"sendUpdates": "none"}),
    ]


async def test_republishing_a_deleted_event_restores_it(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    event_id = await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)
    await calendar.delete_event(CALENDAR_ID, event_id)

    again = await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)

    assert again == event_id
    assert list(standin.events(CALENDAR_ID)) == [event_id]
    assert standin.events(CALENDAR_ID)[event_id]["status"] == "confirmed"


async def test_calendar_not_shared_with_the_service_account_is_not_retryable(
    calendar: GoogleCalendar,
) -> None:
    with pytest.raises(GoogleError) as caught:
        await calendar.upsert_event("someone-else@example.org", "slot:7", COTE_DIVOIRE)

    assert (caught.value.status, caught.value.reason, caught.value.retryable) == (
        404,
        "notFound",
        False,
    )


async def test_service_account_token_comes_from_a_signed_jwt_assertion(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)

    [token_request] = [s for s in standin.requests if s.path == "/token"]
    assert token_request.body["grant_type"] == JWT_BEARER
    claims = json.loads(_segment(token_request.body["assertion"], 1))
    assert claims["iss"] == standin.service_account_email
    assert claims["aud"] == "https://oauth2.googleapis.com/token"
    assert claims["scope"] == "https://www.googleapis.com/auth/calendar.events"
    assert claims["exp"] - claims["iat"] == 3600


def _segment(jwt: str, index: int) -> bytes:
    part = jwt.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


async def test_concurrent_first_calls_fetch_one_token(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    ids = await asyncio.gather(
        *(calendar.upsert_event(CALENDAR_ID, f"slot:{i}", COTE_DIVOIRE) for i in range(6))
    )

    assert len(set(ids)) == 6
    assert standin.calls().count(TOKEN) == 1


async def test_token_expired_on_googles_side_is_refreshed_and_the_call_repeated(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    await calendar.upsert_event(CALENDAR_ID, "slot:1", COTE_DIVOIRE)
    standin.expire_tokens()

    await calendar.upsert_event(CALENDAR_ID, "slot:2", COTE_DIVOIRE)

    assert standin.calls() == [
        TOKEN,
        ("POST", EVENTS),
        ("POST", EVENTS),  # 401: the token expired
        TOKEN,
        ("POST", EVENTS),
    ]
    assert list(standin.events(CALENDAR_ID)) == [event_id_for("slot:1"), event_id_for("slot:2")]


async def test_unknown_key_is_refused_and_not_retryable(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = standin.service_account_info() | {
        "private_key": stranger.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
    }
    key_file = tmp_path / "stranger.json"
    key_file.write_text(json.dumps(info), encoding="utf-8")
    calendar = make_calendar(standin, key_file, clock)

    try:
        with pytest.raises(GoogleError) as caught:
            await calendar.upsert_event(CALENDAR_ID, "slot:7", COTE_DIVOIRE)
    finally:
        await calendar.aclose()

    assert (caught.value.reason, caught.value.retryable, caught.value.status) == (
        "invalid_grant",
        False,
        None,
    )
    assert "Invalid JWT Signature." in caught.value.message
    assert "the service-account key was refused" in caught.value.message
    assert standin.calls() == [TOKEN]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the service-account key file"),
        ("{not json", "is not JSON"),
        ('{"type": "authorized_user"}', "is not a service-account key file"),
        ('{"type": "service_account", "client_email": "x"}', "incomplete or its key unreadable"),
    ],
)
async def test_bad_key_file_is_not_retryable_and_named(
    standin: GoogleStandIn, tmp_path: Path, clock: Clock, content: str | None, expected: str
) -> None:
    key_file = tmp_path / "key.json"
    if content is not None:
        key_file.write_text(content, encoding="utf-8")
    calendar = make_calendar(standin, key_file, clock)

    with pytest.raises(GoogleError) as caught:
        await calendar.delete_event(CALENDAR_ID, "abcdef")

    assert caught.value.retryable is False
    assert expected in caught.value.message
    assert str(key_file) in caught.value.message
    assert standin.requests == []


async def test_google_down_is_retryable_and_recovers(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    await calendar.upsert_event(CALENDAR_ID, "slot:1", COTE_DIVOIRE)
    await standin.down()

    with pytest.raises(GoogleError) as caught:
        await calendar.upsert_event(CALENDAR_ID, "slot:2", COTE_DIVOIRE)
    assert (caught.value.retryable, caught.value.status, caught.value.reason) == (True, None, None)
    assert caught.value.message.startswith("Google Calendar unreachable (insert event ")

    await standin.up()
    await calendar.upsert_event(CALENDAR_ID, "slot:2", COTE_DIVOIRE)
    assert len(standin.events(CALENDAR_ID)) == 2


async def test_token_endpoint_down_before_the_first_token_is_retryable(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    await standin.down()

    with pytest.raises(GoogleError) as caught:
        await calendar.upsert_event(CALENDAR_ID, "slot:1", COTE_DIVOIRE)
    assert caught.value.retryable is True

    await standin.up()
    await calendar.upsert_event(CALENDAR_ID, "slot:1", COTE_DIVOIRE)
    assert standin.calls() == [TOKEN, ("POST", EVENTS)]


async def test_slow_answer_beyond_timeout_is_retryable(
    standin: GoogleStandIn, key_file: Path, clock: Clock
) -> None:
    calendar = make_calendar(standin, key_file, clock, timeout=0.5)
    await calendar.upsert_event(CALENDAR_ID, "slot:1", COTE_DIVOIRE)  # the token, quickly
    standin.slow(2)

    started = time.monotonic()
    try:
        with pytest.raises(GoogleError) as caught:
            await calendar.upsert_event(CALENDAR_ID, "slot:2", COTE_DIVOIRE)
    finally:
        await calendar.aclose()

    assert (caught.value.retryable, caught.value.status) == (True, None)
    assert time.monotonic() - started < 1.9
    standin.slow(0)
    await asyncio.sleep(1.6)  # let the stand-in finish the abandoned answer before teardown
