"""live.js in a real browser (Debian's Chromium, Playwright): the public event page follows the
running order without a reload, scripts get each message as a DOM event, and after an HTTP error
(the server stopping) the page reconnects from the last id it saw and misses nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest

from internet10.app import create_app
from internet10.db import Database
from internet10.settings import Settings
from internet10.state import AppState, Dependencies
from tests.browser.conftest import DESKTOP
from tests.conftest import Staff
from tests.live.helpers import drive, new_event, record, slot_ids
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CAPTURE = """() => {
  window.seen = [];
  document.addEventListener("live", e => window.seen.push(
    {kind: e.detail.kind, id: Number(e.detail.id), data: e.detail.data}));
}"""


async def test_the_event_page_follows_the_running_order_and_dispatches_each_message(
    settings: Settings, database: Database, organiser: Staff, browser: Any, now: dt.datetime
) -> None:
    app = create_app(
        settings.model_copy(update={"secure_cookies": False}),
        dependencies=Dependencies(database=database, clock=lambda: now),
    )
    event_id = await new_event(database, organiser)
    first = (await slot_ids(database, event_id))[0]
    async with served(app) as base, aiohttp.ClientSession() as http:
        context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
        page = await context.new_page()
        await page.goto(f"{base}/events/{event_id}?lang=en")
        assert await page.locator("#programme td[data-status]").count() == 0
        await page.evaluate(CAPTURE)
        state: AppState = app.extensions["internet10"]
        assert state.broker is not None
        await page.wait_for_function("() => true")  # let the deferred script run
        for _ in range(100):
            if state.broker.subscriber_count(event_id) == 1:
                break
            await page.wait_for_timeout(50)
        assert state.broker.subscriber_count(event_id) == 1
        await drive(http, base, organiser, first, action="start")
        # the programme region is fetched again and now shows the live column, no reload
        await page.wait_for_selector("#programme td[data-status='live']", timeout=10_000)
        question = await record(database, event_id, "question", {"slot_id": first, "n": 1})
        await page.wait_for_function("() => window.seen.length === 2", timeout=10_000)
        seen = await page.evaluate("window.seen")
        assert [s["kind"] for s in seen] == ["running", "question"]
        assert seen[1] == {"kind": "question", "id": question, "data": {"slot_id": first, "n": 1}}
        assert seen[0]["data"]["event_status"] == "live"
        await context.close()


async def test_after_the_server_refused_it_the_page_resumes_from_the_last_id_it_saw(
    settings: Settings, database: Database, organiser: Staff, browser: Any, now: dt.datetime
) -> None:
    app = create_app(
        settings.model_copy(update={"secure_cookies": False}),
        dependencies=Dependencies(database=database, clock=lambda: now),
    )
    event_id = await new_event(database, organiser)
    async with served(app) as base:
        state: AppState = app.extensions["internet10"]
        broker = state.broker
        assert broker is not None
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        answers: list[tuple[int, str]] = []  # (status, query) of each stream request
        stream = f"{base}/api/v1/events/{event_id}/live"

        def answered(response: Any) -> None:
            url, _, query = response.url.partition("?")
            if url == stream:
                answers.append((response.status, query))

        page.on("response", answered)
        await page.goto(f"{base}/events/{event_id}")
        await page.evaluate(CAPTURE)
        for _ in range(100):
            if broker.subscriber_count(event_id) == 1:
                break
            await page.wait_for_timeout(50)
        before = await record(database, event_id, "question", {"n": 1})
        await page.wait_for_function("() => window.seen.length === 1", timeout=10_000)
        # "Stopping": streams end with a retry hint and new ones get 503, on which a browser's
        # EventSource gives up for good; live.js opens a new one a few seconds later.
        broker.begin_shutdown()
        missed = await record(database, event_id, "question", {"n": 2})
        for _ in range(200):
            if any(status == 503 for status, _ in answers):
                break
            await page.wait_for_timeout(50)
        broker.closing = False  # back in service, as a restarted server would be
        await page.wait_for_function("() => window.seen.length === 2", timeout=20_000)
        after = await record(database, event_id, "question", {"n": 3})
        await page.wait_for_function("() => window.seen.length === 3", timeout=10_000)
        assert [s["id"] for s in await page.evaluate("window.seen")] == [before, missed, after]
        assert [status for status, _ in answers] == [200, 503, 200]
        assert answers[0][1] == "last_event_id=0"
        assert answers[2][1] == f"last_event_id={before}"  # live.js's own, from the last id seen
        await context.close()
