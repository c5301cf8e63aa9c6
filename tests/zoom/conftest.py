"""A real Zoom stand-in on loopback, the real zoomus-based adapter pointed at it, and a small
webhook receiver that keeps the raw bytes it is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from integrations.zoom.adapter import ZoomMeetings
from integrations.zoom.standin import ZoomStandIn
from tests.clock import Clock

WEBHOOK_SECRET = "webhook-secret-for-tests"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)


@pytest.fixture
async def standin() -> AsyncIterator[ZoomStandIn]:
    async with ZoomStandIn() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2031, 3, 14, 9, 30, tzinfo=dt.UTC))


def make_adapter(standin: ZoomStandIn, clock: Clock, **options: object) -> ZoomMeetings:
    return ZoomMeetings(
        standin.account_id,
        standin.client_id,
        standin.client_secret,
        standin.api_url,
        standin.oauth_url,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def zoom(standin: ZoomStandIn, clock: Clock) -> ZoomMeetings:
    return make_adapter(standin, clock)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """Answers 200 and keeps each delivery's headers and exact body bytes."""
    kept = WebhookReceiver()

    async def handle(request: web.Request) -> web.Response:
        kept.deliveries.append(Delivery(dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/zoom", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kept.url = f"http://127.0.0.1:{port}/webhooks/zoom"
    yield kept
    await runner.cleanup()
