"""Google's refusals, as the real client receives them from the stand-in, mapped to GoogleError:
429, 5xx and rate-limit 403s are retryable (at Retry-After when sent), daily quotas wait for
midnight Pacific time, every other 4xx is not retryable."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.google import BroadcastSpec, CalendarEvent, GoogleError, event_id_for
from integrations.google.adapter import GoogleCalendar, YouTubeLive
from integrations.google.standin import GoogleStandIn
from integrations.google.transport import error_reason, next_pacific_midnight, parse_retry_after
from tests.clock import Clock
from tests.google.conftest import CALENDAR_ID

pytestmark = pytest.mark.integration

EVENT = CalendarEvent(
    summary="Internet10 — Ghana",
    starts_at=dt.datetime(2031, 4, 2, 12, 0, tzinfo=dt.UTC),
    ends_at=dt.datetime(2031, 4, 2, 12, 25, tzinfo=dt.UTC),
    timezone="Africa/Accra",
    link="https://internet10.example.org/events/7",
)
EVENT_ID = event_id_for("slot:1")
SPEC = BroadcastSpec(title="Hub IGF 2031", starts_at=dt.datetime(2031, 12, 10, 8, tzinfo=dt.UTC))


async def failed_publish(calendar: GoogleCalendar) -> GoogleError:
    with pytest.raises(GoogleError) as caught:
        await calendar.upsert_event(CALENDAR_ID, "slot:1", EVENT)
    return caught.value


async def failed_live(youtube: YouTubeLive) -> GoogleError:
    with pytest.raises(GoogleError) as caught:
        await youtube.create_live("hub:1", SPEC)
    return caught.value


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (403, "rateLimitExceeded", True),
        (403, "userRateLimitExceeded", True),
        (403, "forbidden", False),
        (403, "forbiddenForServiceAccounts", False),
        (403, "insufficientPermissions", False),
        (429, "rateLimitExceeded", True),
        (400, "badRequest", False),
        (404, "notFound", False),
        (500, "backendError", True),
        (502, "backendError", True),
        (503, "backendError", True),
    ],
)
async def test_calendar_refusals_map_by_status_and_reason(
    standin: GoogleStandIn,
    calendar: GoogleCalendar,
    status: int,
    reason: str,
    retryable: bool,
) -> None:
    standin.fail_next(1, status, reason=reason, message=f"stand-in says {reason}")

    error = await failed_publish(calendar)

    assert (error.status, error.reason, error.retryable, error.retry_at) == (
        status,
        reason,
        retryable,
        None,
    )
    assert error.message == (
        f"Google Calendar insert event {EVENT_ID} (slot:1) failed: "
        f"HTTP {status} {reason}: stand-in says {reason}"
    )
    assert standin.events(CALENDAR_ID) == {}
    await calendar.upsert_event(CALENDAR_ID, "slot:1", EVENT)  # the fault was for one request
    assert list(standin.events(CALENDAR_ID)) == [EVENT_ID]


@pytest.mark.parametrize(("status", "reason"), [(429, "rateLimitExceeded"), (503, "backendError")])
async def test_retry_after_seconds_sets_retry_at(
    standin: GoogleStandIn, calendar: GoogleCalendar, clock: Clock, status: int, reason: str
) -> None:
    standin.fail_next(1, status, reason=reason, retry_after=30)

    error = await failed_publish(calendar)

    assert (error.retryable, error.retry_at) == (True, clock.now + dt.timedelta(seconds=30))


async def test_retry_after_http_date_sets_retry_at(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    standin.fail_next(
        1, 403, reason="userRateLimitExceeded", retry_after="Fri, 14 Mar 2031 09:31:05 GMT"
    )

    error = await failed_publish(calendar)

    assert (error.retryable, error.retry_at) == (
        True,
        dt.datetime(2031, 3, 14, 9, 31, 5, tzinfo=dt.UTC),
    )


async def test_retry_after_on_a_permanent_refusal_is_ignored(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    standin.fail_next(1, 403, reason="forbidden", retry_after=30)

    error = await failed_publish(calendar)

    assert (error.retryable, error.retry_at) == (False, None)


async def test_youtube_daily_quota_waits_for_midnight_pacific(
    standin: GoogleStandIn, youtube: YouTubeLive, clock: Clock
) -> None:
    """14 March 2031, 09:30 UTC is 02:30 PDT (daylight time since 9 March): the quota resets at
    00:00 PDT on the 15th, 07:00 UTC."""
    standin.fail_next(1, 403, reason="quotaExceeded")

    error = await failed_live(youtube)

    assert (error.status, error.reason, error.retryable, error.retry_at) == (
        403,
        "quotaExceeded",
        True,
        dt.datetime(2031, 3, 15, 7, 0, tzinfo=dt.UTC),
    )
    assert error.message == (
        "YouTube list streams failed: HTTP 403 quotaExceeded: The request cannot be completed "
        "because you have exceeded your quota."
    )


async def test_calendar_usage_limit_is_retryable_without_a_moment(
    standin: GoogleStandIn, calendar: GoogleCalendar
) -> None:
    """Calendar's quotaExceeded ("usage limits exceeded") is a rolling limit, not a daily one."""
    standin.fail_next(1, 403, reason="quotaExceeded")

    error = await failed_publish(calendar)

    assert (error.reason, error.retryable, error.retry_at) == ("quotaExceeded", True, None)


async def test_calendar_daily_project_limit_waits_for_midnight_pacific(
    standin: GoogleStandIn, calendar: GoogleCalendar, clock: Clock
) -> None:
    clock.now = dt.datetime(2031, 1, 10, 9, 30, tzinfo=dt.UTC)  # 01:30 PST
    standin.fail_next(1, 403, reason="dailyLimitExceeded")

    error = await failed_publish(calendar)

    assert (error.retryable, error.retry_at) == (True, dt.datetime(2031, 1, 11, 8, tzinfo=dt.UTC))


async def test_youtube_rate_limit_and_server_errors_are_retryable(
    standin: GoogleStandIn, youtube: YouTubeLive
) -> None:
    standin.fail_next(1, 403, reason="rateLimitExceeded")
    standin.fail_next(1, 500)

    rate = await failed_live(youtube)
    server = await failed_live(youtube)

    assert (rate.status, rate.reason, rate.retryable) == (403, "rateLimitExceeded", True)
    assert (server.status, server.reason, server.retryable) == (500, "backendError", True)


def test_next_pacific_midnight_across_the_change_to_daylight_time() -> None:
    """Clocks go forward at 02:00 PST on 9 March 2031: that day has 23 hours."""
    assert next_pacific_midnight(dt.datetime(2031, 3, 9, 7, 59, tzinfo=dt.UTC)) == dt.datetime(
        2031, 3, 9, 8, 0, tzinfo=dt.UTC
    )  # 23:59 PST on the 8th: midnight is 00:00 PST the 9th
    assert next_pacific_midnight(dt.datetime(2031, 3, 9, 12, 0, tzinfo=dt.UTC)) == dt.datetime(
        2031, 3, 10, 7, 0, tzinfo=dt.UTC
    )  # 05:00 PDT on the 9th: midnight is 00:00 PDT the 10th
    assert next_pacific_midnight(dt.datetime(2031, 3, 9, 8, 0, tzinfo=dt.UTC)) == dt.datetime(
        2031, 3, 10, 7, 0, tzinfo=dt.UTC
    )  # exactly midnight: the next one


def test_parse_retry_after_forms() -> None:
    now = dt.datetime(2031, 3, 14, 9, 30, tzinfo=dt.UTC)

    assert parse_retry_after("120", now) == now + dt.timedelta(minutes=2)
    assert parse_retry_after("-5", now) == now
    assert parse_retry_after("Fri, 14 Mar 2031 10:00:00 GMT", now) == dt.datetime(
        2031, 3, 14, 10, tzinfo=dt.UTC
    )
    assert parse_retry_after("soon", now) is None


def test_error_reason_reads_both_of_googles_shapes() -> None:
    classic = b'{"error": {"code": 403, "message": "Nope", "errors": [{"reason": "forbidden"}]}}'
    aip193 = (
        b'{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED", '
        b'"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", '
        b'"reason": "RATE_LIMIT_EXCEEDED"}]}}'
    )
    bare = b'{"error": {"code": 500, "message": "Oops", "status": "INTERNAL"}}'

    assert error_reason(classic) == ("forbidden", "Nope")
    assert error_reason(aip193) == ("RATE_LIMIT_EXCEEDED", "Quota")
    assert error_reason(bare) == ("INTERNAL", "Oops")
    assert error_reason(b"<html>502 Bad Gateway</html>") == (None, None)
