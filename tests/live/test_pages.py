"""Pages and the live channel: the public event page names its stream and the live id it shows,
and loads the small script only then; the page itself needs no JavaScript."""

from __future__ import annotations

import re

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import EventStatus
from tests.conftest import Staff
from tests.live.helpers import new_event, record

pytestmark = pytest.mark.integration

SCRIPT = re.compile(r'<script src="/static/live\.[0-9a-f]{12}\.js" defer></script>')


async def test_a_published_event_page_names_its_stream_from_what_it_shows(
    client: Client, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    html = await (await client.get(f"/events/{event_id}")).get_data(as_text=True)
    region = (
        f'<section id="programme" data-live-url="/api/v1/events/{event_id}/live'
        '?last_event_id=0" data-live-refresh="running">'
    )
    assert region in html
    assert len(SCRIPT.findall(html)) == 1
    shown = await record(database, event_id, "running", {"slots": []})
    html = await (await client.get(f"/events/{event_id}")).get_data(as_text=True)
    assert f"/api/v1/events/{event_id}/live?last_event_id={shown}" in html


@pytest.mark.parametrize("status", [EventStatus.ENDED, EventStatus.CANCELLED])
async def test_an_event_that_is_over_has_no_stream(
    client: Client, database: Database, organiser: Staff, status: EventStatus
) -> None:
    event_id = await new_event(database, organiser, status=status)
    html = await (await client.get(f"/events/{event_id}")).get_data(as_text=True)
    assert '<section id="programme">' in html
    assert "data-live-url" not in html
    assert not SCRIPT.search(html)


async def test_the_script_is_small_and_says_nothing_itself(client: Client) -> None:
    response = await client.get("/static/live.js")
    assert response.status_code == 200
    script = await response.get_data(as_text=True)
    assert len(script.encode()) < 5120  # 5 KiB, under 2 KiB gzipped
    assert "new EventSource(from)" in script
    assert 'addEventListener("reload"' in script
