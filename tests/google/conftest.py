"""A real Google stand-in on loopback and the real google-api-python-client adapters pointed at
it, with credential files written where Google's tools would put them. Every test runs under
the loopback guard (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.google.adapter import GoogleCalendar, YouTubeLive
from integrations.google.standin import GoogleStandIn
from tests.clock import Clock

CALENDAR_ID = "c_internet10-benin@group.calendar.google.com"


@pytest.fixture
async def standin() -> AsyncIterator[GoogleStandIn]:
    async with GoogleStandIn() as server:
        server.add_calendar(CALENDAR_ID)
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2031, 3, 14, 9, 30, tzinfo=dt.UTC))


@pytest.fixture
def key_file(standin: GoogleStandIn, tmp_path: Path) -> Path:
    return standin.write_service_account_file(tmp_path / "service-account.json")


@pytest.fixture
def token_file(standin: GoogleStandIn, tmp_path: Path) -> Path:
    return standin.write_user_token_file(tmp_path / "youtube-token.json")


def make_calendar(
    standin: GoogleStandIn, key_file: Path, clock: Clock, **options: object
) -> GoogleCalendar:
    return GoogleCalendar(
        key_file,
        api_endpoint=standin.calendar_endpoint,
        token_uri=standin.token_uri,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def make_youtube(
    standin: GoogleStandIn, token_file: Path, clock: Clock, **options: object
) -> YouTubeLive:
    return YouTubeLive(
        token_file,
        api_endpoint=standin.youtube_endpoint,
        watch_url=standin.watch_url,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def calendar(
    standin: GoogleStandIn, key_file: Path, clock: Clock
) -> AsyncIterator[GoogleCalendar]:
    adapter = make_calendar(standin, key_file, clock)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def youtube(
    standin: GoogleStandIn, token_file: Path, clock: Clock
) -> AsyncIterator[YouTubeLive]:
    adapter = make_youtube(standin, token_file, clock)
    yield adapter
    await adapter.aclose()
