"""Attacks on POST /webhooks/zoom: forged signatures, stale and future timestamps, replays,
oversized bodies and floods. Whatever arrives, nothing unsigned is stored, nothing signed is
stored twice, and no valid delivery from Zoom is refused, even in the middle of a flood.

The in-process tests run in both passes; the ones that serve the app over real HTTP (floods,
concurrent replays, bodies cut short) are marked ``reliability``. Each prints its figures
(``pytest -s``) for docs/reliability.md."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from quart import Quart
from sqlalchemy import select

from integrations.zoom import webhook_signature
from internet10.api.webhooks import MAX_BODY_BYTES, TOLERANCE_SECONDS
from internet10.app import create_app
from internet10.db import Database
from internet10.models import AttendanceInterval, Job, WebhookDelivery
from internet10.ratelimit import InProcessLimiter, Limiter, RedisLimiter
from internet10.settings import Settings, load_settings
from internet10.state import AppState, Dependencies
from tests.conftest import SECRET
from tests.serving import served
from tests.webhooks.test_zoom_webhooks import (
    WEBHOOK_SECRET,
    add_event,
    count,
    encode,
    envelope,
    signed,
    worker,
    zoom_time,
)

pytestmark = pytest.mark.integration

ZOOM_ADDRESS = "127.0.0.3"  # where Zoom's deliveries come from in the served tests
ATTACKER_ADDRESS = "127.0.0.2"
LIMIT_CLOCK = 1_000.0  # a fixed limiter clock: one window (16), 20 s to its end
REDIS_DB = 9  # this file's own Redis database
SIG = "x-zm-signature"
TS = "x-zm-request-timestamp"


# -- building apps and requests -------------------------------------------------------------------


def webhook_settings(database_url: str, *, refusals: int, redis_url: str | None = None) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        database_pool_size=20,
        zoom_webhook_secret=WEBHOOK_SECRET,
        zoom_webhook_refusals_per_minute=refusals,
        redis_url=redis_url,
    )


def app_state(app: Quart) -> AppState:
    found = app.extensions["internet10"]
    assert isinstance(found, AppState)
    return found


def freeze_limiter(app: Quart) -> None:
    """Give the serving app a limiter whose clock stands still, so a test never straddles two
    rate-limit windows. Call it once the app serves: starting up sets the limiter."""
    st = app_state(app)
    limiter: Limiter = InProcessLimiter(clock=lambda: LIMIT_CLOCK)
    if st.redis is not None:
        # A window of this run's own: its keys meet no other run's sharing the server.
        window = 60.0 * secrets.randbelow(10**12) + LIMIT_CLOCK % 60
        limiter = RedisLimiter(st.redis, clock=lambda: window)
    st.limiter = limiter


@asynccontextmanager
async def running(
    settings: Settings, database: Database, clock: Callable[[], dt.datetime]
) -> AsyncIterator[Quart]:
    """The app, serving in-process (its lifespan hooks run), its limiter frozen."""
    app = create_app(settings, dependencies=Dependencies(database=database, clock=clock))
    async with app.test_app():
        freeze_limiter(app)
        yield app


@asynccontextmanager
async def serving(
    settings: Settings, database: Database, clock: Callable[[], dt.datetime]
) -> AsyncIterator[tuple[Quart, str]]:
    """The app served by Hypercorn on loopback (its base URL), its limiter frozen."""
    app = create_app(settings, dependencies=Dependencies(database=database, clock=clock))
    async with served(app) as base:
        freeze_limiter(app)
        yield app, base


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One request and the refusal it must get (status, code)."""

    kind: str
    body: bytes
    headers: dict[str, str]
    status: int = 401
    code: str = "BAD_SIGNATURE"


def participant(number: int, moment: dt.datetime, kind: str) -> dict[str, Any]:
    time_field = "join_time" if kind == "joined" else "leave_time"
    return {
        "user_id": str(16_000_000 + number),
        "user_name": f"Participant {number} Aïcha",
        "id": "",
        "participant_uuid": f"PU-{number:04d}",
        "registrant_id": "",
        "email": f"p{number}@example.bj",
        time_field: zoom_time(moment),
    }


def delivery(number: int, moment: dt.datetime, kind: str = "joined") -> bytes:
    """A participant's join or leave as Zoom sends it (distinct bytes per number and kind)."""
    event = f"meeting.participant_{kind}"
    return encode(envelope(event, participant=participant(number, moment, kind)))


def with_headers(body: bytes, timestamp: str, signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": signature,
    }


def forgeries(now: dt.datetime) -> list[Attempt]:
    """Every forgery we know of, against a join Zoom never sent (Mallory's)."""
    body = delivery(666, now)
    ts = str(int(now.timestamp()))
    good = webhook_signature(WEBHOOK_SECRET, ts, body)
    hexdigest = good.removeprefix("v0=")
    attempts: list[Attempt] = []

    def add(kind: str, sent: bytes, headers: dict[str, str], code: str = "BAD_SIGNATURE") -> None:
        attempts.append(Attempt(kind, sent, headers, code=code))

    for secret in (
        "",
        "x",
        WEBHOOK_SECRET[:-1],
        WEBHOOK_SECRET + "\n",
        WEBHOOK_SECRET.upper(),
        " " + WEBHOOK_SECRET,
        WEBHOOK_SECRET[::-1],
        WEBHOOK_SECRET[:-1] + "5",
    ):
        add("wrong secret", body, with_headers(body, ts, webhook_signature(secret, ts, body)))
    for cut in (3, 4, 10, 35, 66):
        add("truncated signature", body, with_headers(body, ts, good[:cut]))
    add("truncated signature", body, with_headers(body, ts, good + "0"))  # one digit too many
    digest = bytes.fromhex(hexdigest)
    for scheme in (
        "v1=" + hexdigest,
        "V0=" + hexdigest,
        "sha256=" + hexdigest,
        hexdigest,
        "v0=" + hexdigest.upper(),
        "v0:" + hexdigest,
        "v0=" + base64.b64encode(digest).decode(),
        "v0=" + base64.urlsafe_b64encode(digest).decode(),
        f"{good},{good}",
        "v0=" + "0" * 64,
    ):
        add("wrong scheme", body, with_headers(body, ts, scheme))
    document = json.loads(body)
    others = [
        delivery(666, now, "left"),  # another delivery's signature
        json.dumps(document, separators=(",", ":")).encode(),  # re-serialised: \u00ef escaped
        json.dumps(document, ensure_ascii=False).encode(),  # spaces after separators
        body + b"\n",
        b" " + body,
        b"",
    ]
    for other in others:
        add("signature of another body", body, with_headers(body, ts, signed(other, now)[SIG]))
    later = str(int(now.timestamp()) + 1)
    add("signature of another body", body, with_headers(body, later, good))  # other timestamp
    for position in range(len(body)):  # one bit of one byte, at every position
        flipped = bytearray(body)
        flipped[position] ^= 0x01
        add("byte-flipped body", bytes(flipped), with_headers(body, ts, good))
    missing = with_headers(body, ts, good)
    for drop in ([SIG], [TS], [SIG, TS]):
        add("missing header", body, {k: v for k, v in missing.items() if k not in drop})
    add("missing header", body, with_headers(body, ts, ""))
    add("missing header", body, with_headers(body, "", good))
    for stamp in (
        "soon",
        "-300",
        "+" + ts,
        ts + ".0",
        "1e9",
        "0x" + format(int(ts), "x"),
        "9" * 13,
        "9" * 400,  # once an OverflowError (500) when correctly signed
        "9" * 5_000,  # once a ValueError from int() (500) when correctly signed
    ):
        headers = with_headers(body, stamp, webhook_signature(WEBHOOK_SECRET, stamp, body))
        add("malformed timestamp", body, headers)
    for stamp_seconds in (
        int(now.timestamp()) - TOLERANCE_SECONDS - 1,
        int(now.timestamp()) + TOLERANCE_SECONDS + 1,
        int(now.timestamp()) - 3_600,
        int(now.timestamp()) + 3_600,
        int(now.timestamp()) - 86_400,
        int(now.timestamp()) + 86_400,
        0,
        1,
        253_402_300_799,  # 9999-12-31T23:59:59Z
        999_999_999_999,
    ):
        stamp = str(stamp_seconds)
        headers = with_headers(body, stamp, webhook_signature(WEBHOOK_SECRET, stamp, body))
        add("stale or future timestamp", body, headers, code="STALE_TIMESTAMP")
    return attempts


def tally(attempts: list[Attempt]) -> dict[str, int]:
    return dict(collections.Counter(a.kind for a in attempts))


async def stored_digests(database: Database) -> list[str]:
    async with database.read() as db:
        return sorted((await db.scalars(select(WebhookDelivery.digest))).all())


async def intervals(database: Database) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    async with database.read() as db:
        rows = (await db.scalars(select(AttendanceInterval))).all()
    return sorted((r.participant_key, r.joined_at, r.left_at) for r in rows)


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# -- forged signatures, stale and future timestamps ----------------------------------------------


async def test_every_forgery_refused_and_nothing_stored(
    database_url: str, database: Database, now: dt.datetime
) -> None:
    attempts = forgeries(now)
    settings = webhook_settings(database_url, refusals=0)  # the verdicts, not the limit
    async with running(settings, database, lambda: now) as app:
        client = app.test_client()
        verdicts = collections.Counter[tuple[str, int, str]]()
        for attempt in attempts:
            response = await client.post(
                "/webhooks/zoom", data=attempt.body, headers=attempt.headers
            )
            body = await response.get_json()
            verdicts[(attempt.kind, response.status_code, body["code"])] += 1
            assert (response.status_code, body["code"]) == (attempt.status, attempt.code), attempt
        # The untouched original is accepted: the forgeries failed for what was changed.
        original = delivery(666, now)
        response = await client.post("/webhooks/zoom", data=original, headers=signed(original, now))
        assert response.status_code == 200

    kinds = tally(attempts)
    print(f"\nFIGURES forgeries: {len(attempts)} tried {kinds}; accepted 0; 500s 0")
    assert kinds == {
        "wrong secret": 8,
        "truncated signature": 6,
        "wrong scheme": 10,
        "signature of another body": 7,
        "byte-flipped body": len(original),
        "missing header": 5,
        "malformed timestamp": 9,
        "stale or future timestamp": 10,
    }
    assert sum(verdicts.values()) == len(attempts)
    assert await stored_digests(database) == [sha(original)]
    assert await count(database, Job) == 1


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (-TOLERANCE_SECONDS - 1, 401),
        (-TOLERANCE_SECONDS, 200),
        (0, 200),
        (TOLERANCE_SECONDS, 200),
        (TOLERANCE_SECONDS + 1, 401),
    ],
)
async def test_timestamp_window_edges_exact(
    database_url: str, database: Database, now: dt.datetime, offset: int, status: int
) -> None:
    body = delivery(1, now)
    settings = webhook_settings(database_url, refusals=0)
    async with running(settings, database, lambda: now) as app:
        response = await app.test_client().post(
            "/webhooks/zoom", data=body, headers=signed(body, now + dt.timedelta(seconds=offset))
        )
    assert response.status_code == status
    if status == 401:
        assert (await response.get_json())["code"] == "STALE_TIMESTAMP"
    assert await stored_digests(database) == ([sha(body)] if status == 200 else [])


async def test_clock_moving_makes_a_signed_request_stale_both_ways(
    database_url: str, database: Database, now: dt.datetime
) -> None:
    """The same signed request, as the server's clock moves past it: accepted within 300 s on
    either side, refused beyond (a captured request is worth 5 minutes, and no more)."""
    body = delivery(1, now)
    headers = signed(body, now)
    clock = [now]
    settings = webhook_settings(database_url, refusals=0)
    async with running(settings, database, lambda: clock[0]) as app:
        client = app.test_client()
        seen = []
        for seconds in (-301, -300, 0, 300, 301):
            clock[0] = now + dt.timedelta(seconds=seconds)
            response = await client.post("/webhooks/zoom", data=body, headers=headers)
            seen.append(response.status_code)
    assert seen == [401, 200, 200, 200, 401]
    assert await stored_digests(database) == [sha(body)]


# -- replays ---------------------------------------------------------------------------------------


async def test_replayed_deliveries_acknowledged_stored_once_attendance_unchanged(
    database_url: str, database: Database, now: dt.datetime, tmp_path: Path
) -> None:
    await add_event(database, now)
    joined = delivery(7, now)
    left = delivery(7, now + dt.timedelta(minutes=42), "left")
    requests = [(joined, signed(joined, now)), (left, signed(left, now + dt.timedelta(seconds=3)))]
    settings = webhook_settings(database_url, refusals=5)
    clock = [now]
    async with running(settings, database, lambda: clock[0]) as app:
        client = app.test_client()
        for body, headers in requests:
            response = await client.post("/webhooks/zoom", data=body, headers=headers)
            assert await response.get_json() == {"status": "accepted"}
        assert await worker(settings, database, tmp_path, now).drain() == 2
        before = await intervals(database)
        assert before == [("PU-0007", now, now + dt.timedelta(minutes=42))]

        replays = 0
        for _ in range(10):  # the same bytes and headers, within the window
            for body, headers in requests:
                response = await client.post("/webhooks/zoom", data=body, headers=headers)
                assert response.status_code == 200
                assert await response.get_json() == {"status": "accepted"}
                replays += 1
        # Replays are not refusals: the limit (5) never answers them 429.
        assert await worker(settings, database, tmp_path, now).drain() == 0
        assert await intervals(database) == before

        # The same captured request once its timestamp is past the window: refused.
        clock[0] = now + dt.timedelta(seconds=TOLERANCE_SECONDS + 10)
        response = await client.post("/webhooks/zoom", data=joined, headers=requests[0][1])
        assert response.status_code == 401
        assert (await response.get_json())["code"] == "STALE_TIMESTAMP"

    print(f"\nFIGURES replays: {replays} exact replays + 1 stale replay; stored 2 of 2; jobs 2")
    assert await stored_digests(database) == sorted([sha(joined), sha(left)])
    assert await count(database, Job) == 2
    assert await intervals(database) == before


# -- oversized bodies ------------------------------------------------------------------------------


def padded(now: dt.datetime, size: int) -> bytes:
    """A real delivery padded (in the meeting's topic) to exactly ``size`` bytes."""
    bare = encode(envelope("meeting.participant_joined", participant=participant(1, now, "joined")))
    padding = size - len(bare)
    body = encode(
        envelope(
            "meeting.participant_joined",
            participant=participant(1, now, "joined"),
            topic="Internet10 2026" + "x" * padding,
        )
    )
    assert len(body) == size
    return body


async def test_oversized_signed_body_is_413_at_one_byte_over(
    database_url: str, database: Database, now: dt.datetime
) -> None:
    at_limit, over = padded(now, MAX_BODY_BYTES), padded(now, MAX_BODY_BYTES + 1)
    huge = padded(now, 4 * 1024 * 1024)  # over the app-wide limit as well
    settings = webhook_settings(database_url, refusals=0)
    async with running(settings, database, lambda: now) as app:
        client = app.test_client()
        statuses = []
        for body in (over, huge, at_limit):
            response = await client.post("/webhooks/zoom", data=body, headers=signed(body, now))
            statuses.append(response.status_code)
            if response.status_code == 413:
                assert (await response.get_json())["code"] == "REQUEST_ENTITY_TOO_LARGE"
    assert statuses == [413, 413, 200]
    assert await stored_digests(database) == [sha(at_limit)]


async def raw_exchange(port: int, head: bytes, body: bytes) -> bytes:
    """Send ``head`` and ``body`` (perhaps a part of the body announced), then wait for the
    server's answer without sending more; return its status line and headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def request_head(body: bytes, now: dt.datetime, framing: str) -> bytes:
    ts = str(int(now.timestamp()))
    return (
        "POST /webhooks/zoom HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{TS}: {ts}\r\n"
        f"{SIG}: {webhook_signature(WEBHOOK_SECRET, ts, body)}\r\n{framing}\r\n\r\n"
    ).encode()


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)


@pytest.mark.reliability
async def test_oversized_bodies_refused_before_they_are_read(
    database_url: str, database: Database, now: dt.datetime
) -> None:
    """Over real HTTP: a declared length over the limit is answered 413 before any byte of the
    body is sent; a chunked body (no length) is answered 413 once it passes the limit, with most
    of it never sent; a body that stalls is answered 408 at the body timeout. Each counts as a
    refusal. A chunked delivery under the limit is accepted (the control)."""
    settings = webhook_settings(database_url, refusals=3)
    chunk = b"x" * 16_384
    declared = 64 * 1024 * 1024
    planned = 8 * 1024 * 1024  # announced by nothing: chunked
    sent_chunked = 20 * len(chunk)  # 320 KiB of it, past the 256 KiB limit
    valid = delivery(5, now)
    async with serving(settings, database, lambda: now) as (app, base):
        app.config["BODY_TIMEOUT"] = 1  # seconds a body may take (60 by default)
        port = urlsplit(base).port
        assert port is not None
        head = request_head(b"", now, f"Content-Length: {declared}")
        answer = await raw_exchange(port, head, b"")
        assert answer.startswith(b"HTTP/1.1 413 "), answer

        head = request_head(b"", now, "Transfer-Encoding: chunked")
        answer = await raw_exchange(port, head, chunked(*[chunk] * 20))
        assert answer.startswith(b"HTTP/1.1 413 "), answer

        head = request_head(b"", now, "Content-Length: 1000")  # then 100 bytes and silence
        started = time.perf_counter()
        answer = await raw_exchange(port, head, b"{" * 100)
        stalled_seconds = time.perf_counter() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer

        # Those three refusals used the address's budget (3): a fourth is 429.
        head = request_head(b"[]", now, "Content-Length: 2")  # signed over other bytes
        answer = await raw_exchange(port, head, b"{}")
        assert answer.startswith(b"HTTP/1.1 429 "), answer

        head = request_head(valid, now, "Transfer-Encoding: chunked")
        halves = valid[:100], valid[100:]
        answer = await raw_exchange(port, head, chunked(*halves) + b"0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 "), answer
    print(
        f"\nFIGURES oversized: Content-Length {declared} B -> 413 with 0 B sent; chunked "
        f"({planned} B planned) -> 413 with {sent_chunked} B sent; a body stalled after "
        f"100 of 1000 B -> 408 after {stalled_seconds:.1f} s (timeout 1 s); stored 0 of them"
    )
    assert await stored_digests(database) == [sha(valid)]


# -- the refusal limit ----------------------------------------------------------------------------


def from_address(address: str) -> dict[str, Any]:
    return {"client": (address, 40_000)}


async def test_refusals_limited_per_address_signed_deliveries_never(
    database_url: str, database: Database, now: dt.datetime
) -> None:
    settings = webhook_settings(database_url, refusals=5)
    forged = forgeries(now)
    async with running(settings, database, lambda: now) as app:
        client = app.test_client()

        async def send(body: bytes, headers: dict[str, str], address: str) -> tuple[int, Any]:
            response = await client.post(
                "/webhooks/zoom", data=body, headers=headers, scope_base=from_address(address)
            )
            return response.status_code, (await response.get_json(), response.headers)

        statuses = [(await send(a.body, a.headers, "203.0.113.9"))[0] for a in forged[:12]]
        assert statuses == [401] * 5 + [429] * 7
        status, (body, headers) = await send(forged[0].body, forged[0].headers, "203.0.113.9")
        assert (status, body["code"], headers["Retry-After"]) == (429, "RATE_LIMITED", "20")

        # A signed delivery from the limited address: accepted and stored, and it does not
        # lift the limit either.
        valid = delivery(1, now)
        assert (await send(valid, signed(valid, now), "203.0.113.9"))[0] == 200
        malformed = b'{"event": "meeting.participant_joined"}'  # signed: Zoom's, so not limited
        status, (body, _) = await send(malformed, signed(malformed, now), "203.0.113.9")
        assert (status, body["code"]) == (400, "MALFORMED_BODY")
        assert (await send(forged[0].body, forged[0].headers, "203.0.113.9"))[0] == 429

        # Another address has its own budget; oversized bodies count as refusals too.
        big = padded(now, MAX_BODY_BYTES + 1)
        statuses = [(await send(big, signed(big, now), "198.51.100.4"))[0] for _ in range(7)]
        assert statuses == [413] * 5 + [429] * 2
        assert (await send(forged[0].body, forged[0].headers, "192.0.2.1"))[0] == 401

    assert await stored_digests(database) == [sha(valid)]


async def test_refusals_unlimited_when_the_setting_is_zero(
    database_url: str, database: Database, now: dt.datetime
) -> None:
    settings = webhook_settings(database_url, refusals=0)
    forged = forgeries(now)[:60]
    async with running(settings, database, lambda: now) as app:
        client = app.test_client()
        statuses = set()
        for attempt in forged:
            response = await client.post(
                "/webhooks/zoom", data=attempt.body, headers=attempt.headers
            )
            statuses.add(response.status_code)
    assert statuses == {401}


# -- floods ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    status: int
    code: str | None
    seconds: float


async def fire(
    base: str, address: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> list[Outcome]:
    """Send every request from ``address`` (a loopback address of its own), ``concurrency`` at
    a time; the outcomes in the requests' order."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    outcomes: list[Outcome | None] = [None] * len(requests)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(requests)):
        queue.put_nowait(index)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                body, headers = requests[index]
                started = time.perf_counter()
                async with http.post(f"{base}/webhooks/zoom", data=body, headers=headers) as r:
                    document = await r.json(content_type=None)
                    code = document.get("code") if isinstance(document, dict) else None
                    outcomes[index] = Outcome(r.status, code, time.perf_counter() - started)

        await asyncio.gather(*(one() for _ in range(concurrency)))
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


def redis_db_url(base_url: str, db: int) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


@pytest.fixture(params=["in-process", "redis"])
async def limiter_backend(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """The Redis URL the app counts refusals in (db 9), or None for in-process."""
    if request.param == "in-process":
        yield None
        return
    yield redis_db_url(request.getfixturevalue("redis_url"), REDIS_DB)


async def refusals_counted(limiter: Limiter) -> int | None:
    """What Redis counted for the attacker's address (None for the in-process limiter): every
    refusal, unless a Redis call failed (then the limiter let that refusal through)."""
    if not isinstance(limiter, RedisLimiter):
        return None
    window = int(limiter.clock() // 60)
    key = f"internet10:rl:zoom-webhook-refused:{ATTACKER_ADDRESS}:{window}"
    value = await limiter.redis.get(key)
    assert value is not None
    return int(value)


@pytest.mark.reliability
async def test_flood_of_forgeries_limited_while_every_valid_delivery_stored_once(
    database_url: str,
    database: Database,
    now: dt.datetime,
    tmp_path: Path,
    limiter_backend: str | None,
) -> None:
    """First, as a baseline, Zoom alone sends 10 participants' joins and leaves. Then from one
    address come 400 forged, garbage and oversized requests, 16 at a time; meanwhile Zoom sends
    20 more participants' joins and leaves, each delivered twice (its retry: same bytes, a new
    timestamp), and 5 more participants' deliveries come from the attacker's own address (Zoom
    behind the same proxy). Exactly ``limit`` refusals are 401/413, the rest 429; every valid
    delivery is acknowledged, stored once and turned into its interval."""
    limit = 20
    settings = webhook_settings(database_url, refusals=limit, redis_url=limiter_backend)
    await add_event(database, now)
    catalogue = forgeries(now)
    big = padded(now, MAX_BODY_BYTES + 10_000)
    garbage = [(b"\x00\xff" * 50, {"Content-Type": "application/json"}), (big, signed(big, now))]
    attack: list[tuple[bytes, dict[str, str]]] = []
    for index in range(400):
        if index % 20 == 0:
            attack.append(garbage[1])  # oversized, correctly signed
        elif index % 20 == 10:
            attack.append(garbage[0])  # unsigned garbage
        else:
            attempt = catalogue[index % len(catalogue)]
            attack.append((attempt.body, attempt.headers))

    def zoom_sends(numbers: range) -> list[tuple[bytes, dict[str, str]]]:
        sent = []
        for number in numbers:
            left_at = now + dt.timedelta(minutes=number)
            for body in (delivery(number, now), delivery(number, left_at, "left")):
                sent.append((body, signed(body, now)))
        return sent

    calm = zoom_sends(range(1, 11))
    from_zoom = zoom_sends(range(11, 31))
    retries = [(body, signed(body, now + dt.timedelta(seconds=2))) for body, _ in from_zoom]
    via_attacker = zoom_sends(range(31, 36))

    async with serving(settings, database, lambda: now) as (app, base):
        baseline = await fire(base, ZOOM_ADDRESS, calm, concurrency=4)
        started = time.perf_counter()
        attacked, delivered, retried, shared = await asyncio.gather(
            fire(base, ATTACKER_ADDRESS, attack, concurrency=16),
            fire(base, ZOOM_ADDRESS, from_zoom, concurrency=4),
            fire(base, ZOOM_ADDRESS, retries, concurrency=4),
            fire(base, ATTACKER_ADDRESS, via_attacker, concurrency=2),
        )
        flood_seconds = time.perf_counter() - started
        counted = await refusals_counted(app_state(app).limiter)

    refused = collections.Counter(o.status for o in attacked)
    valid = baseline + delivered + retried + shared
    assert refused[200] == 0  # accepted forged: 0
    assert counted in (None, len(attack)), (counted, refused)  # no Redis call failed
    assert refused[401] + refused[413] == limit, refused
    assert refused[429] == len(attack) - limit, refused
    assert {o.code for o in attacked if o.status == 429} == {"RATE_LIMITED"}
    assert [o.status for o in valid] == [200] * len(valid)  # valid deliveries dropped: 0
    expected = sorted({sha(body) for body, _ in calm + from_zoom + via_attacker})
    assert await stored_digests(database) == expected  # each once: duplicates stored 0
    assert await count(database, Job) == len(expected)

    ran = await worker(settings, database, tmp_path, now).drain()
    assert ran == len(expected)
    assert await intervals(database) == [
        (f"PU-{n:04d}", now, now + dt.timedelta(minutes=n)) for n in range(1, 36)
    ]

    def latency(outcomes: list[Outcome]) -> str:
        seconds = [o.seconds for o in outcomes]
        return f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"

    print(
        f"\nFIGURES flood[{'redis' if limiter_backend else 'in-process'}]: "
        f"{len(attack)} attack requests -> {dict(sorted(refused.items()))}; valid {len(valid)} "
        f"sent ({len(calm)} before the flood; during it {len(from_zoom)} + {len(retries)} "
        f"retries from Zoom's address, {len(via_attacker)} from the attacker's) -> all 200; "
        f"stored {len(expected)} distinct, duplicates 0; {ran} jobs -> 35 intervals; "
        f"flood {flood_seconds:.1f} s; acknowledgements before it {latency(baseline)}, "
        f"during it {latency(delivered + retried + shared)}"
    )


@pytest.mark.reliability
async def test_concurrent_replays_stored_once(
    database_url: str, database: Database, now: dt.datetime, tmp_path: Path
) -> None:
    """The same signed delivery, 30 copies at once over real HTTP (a replaying attacker, or Zoom
    retrying while the first is still in flight): 30 acknowledgements, one row, one job."""
    await add_event(database, now)
    body = delivery(3, now)
    copies = [(body, signed(body, now))] * 30
    settings = webhook_settings(database_url, refusals=5)
    async with serving(settings, database, lambda: now) as (_app, base):
        outcomes = await fire(base, ATTACKER_ADDRESS, copies, concurrency=30)
    assert [o.status for o in outcomes] == [200] * 30
    assert await stored_digests(database) == [sha(body)]
    assert await count(database, Job) == 1
    assert await worker(settings, database, tmp_path, now).drain() == 1
    assert await intervals(database) == [("PU-0003", now, None)]
    print("\nFIGURES concurrent replays: 30 copies at once -> 30 x 200; stored 1; jobs 1")
