"""Attendance intervals derived from Zoom's webhooks: matching to registrations, guests, re-joins,
the meeting's end, and the same attendance whatever the order and duplication of deliveries."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.db import Database
from internet10.models import AttendanceInterval, WebhookDelivery
from internet10.services.attendance import Span, build_spans, normalise_name, process_delivery
from internet10.settings import Settings
from tests.webhooks.test_zoom_webhooks import (
    add_event,
    add_registration,
    encode,
    envelope,
    post,
    settings,
    signed,
    worker,
    zoom_time,
)

__all__ = ["settings"]  # the module's settings fixture (with the webhook secret) applies here

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


# -- the rules, without a database ----------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("joins", "leaves", "ends", "spans"),
    [
        ([0], [30], [], [(0, 30)]),
        ([0, 40], [30, 60], [], [(0, 30), (40, 60)]),  # re-join: two intervals
        ([0], [], [], [(0, None)]),  # still in the room
        ([0], [], [120], [(0, 120)]),  # the meeting's end closes it
        ([0, 10], [30], [], [(0, 30)]),  # a missed leave: one interval, no overlap
        ([10], [5, 30], [], [(10, 30)]),  # a leave whose join never came is ignored
        ([0, 30], [30, 50], [], [(0, 30), (30, 50)]),  # leave and re-join in the same second
        ([30], [30], [], [(30, 30)]),  # a zero-length visit
        ([0, 130], [], [120], [(0, 120), (130, None)]),  # restarted after the end
        ([0], [121], [120], [(0, 120)]),  # the leave sent after the end changes nothing
    ],
)
def test_build_spans_follows_the_rules(
    joins: list[int], leaves: list[int], ends: list[int], spans: list[tuple[int, int | None]]
) -> None:
    expected = [Span(at(j), None if left is None else at(left)) for j, left in spans]
    result = build_spans([at(m) for m in joins], [at(m) for m in leaves], [at(m) for m in ends])
    assert result == expected
    doubled = build_spans(
        [at(m) for m in reversed(joins * 2)],
        [at(m) for m in leaves * 2],
        [at(m) for m in ends * 3],
    )
    assert doubled == expected


@pytest.mark.unit
@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("  Aïcha   ZINSOU ", "aicha zinsou"),
        ("Adéla\tÇakır", "adela cakır"),
        ("李小龍", "李小龍"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
    ],
)
def test_normalise_name(raw: str, folded: str) -> None:
    assert normalise_name(raw) == folded


# -- a meeting's stream of deliveries -------------------------------------------------------------


def joined(participant: dict[str, Any], minutes: float) -> dict[str, Any]:
    return envelope(
        "meeting.participant_joined",
        participant=participant | {"join_time": zoom_time(at(minutes))},
    )


def left(participant: dict[str, Any], minutes: float) -> dict[str, Any]:
    return envelope(
        "meeting.participant_left",
        participant=participant
        | {"leave_time": zoom_time(at(minutes)), "leave_reason": "left the meeting"},
    )


def person(
    key: str, name: str, *, email: str = "", registrant_id: str = "", uuid: bool = True
) -> dict[str, Any]:
    return {
        "user_id": f"u-{key}",
        "user_name": name,
        "id": "",
        "participant_uuid": f"PU-{key}" if uuid else "",
        "registrant_id": registrant_id,
        "email": email,
    }


AICHA = person("A", "Aïcha Zinsou", registrant_id="reg-aicha", email="aicha.z@zoom.example")
KOFFI = person("K", "K. Agbo", email=" KOFFI@example.bj ")
LI = person("L", "  li   XIAOLONG ")  # "Lǐ Xiǎolóng" registered
PHONE = person("P", "+229 97 00 00 00", uuid=False)  # dialled in: no uuid, no email
AMA = person("M", "Ama Owusu")  # two registrations carry this name

STREAM = [
    envelope("meeting.started"),
    joined(AICHA, 0),
    joined(KOFFI, 5),
    joined(LI, 10),
    joined(PHONE, 15),
    joined(AMA, 20),
    left(LI, 20),
    left(AMA, 25),
    left(AICHA, 30),
    joined(AICHA, 40),  # re-joins with the same participant uuid
    left(AICHA, 60),
    left(PHONE, 90),
    envelope("meeting.ended", end_time=zoom_time(at(120))),  # Koffi still in
]


async def setup_meeting(database: Database, now: dt.datetime) -> dict[str, int]:
    event_id = await add_event(database, now)
    ids = {"event": event_id}
    for key, name, email, registrant in [
        ("aicha", "Aïcha Zinsou", "aicha@example.bj", "reg-aicha"),
        ("koffi", "Koffi Agbo", "koffi@example.bj", None),
        ("li", "Lǐ Xiǎolóng", "li@example.cn", None),
        ("ama1", "Ama Owusu", "ama1@example.gh", None),
        ("ama2", "ama  owusu", "ama2@example.gh", None),
    ]:
        ids[key] = await add_registration(database, event_id, name, email, now, registrant)
    other_event = await add_event(database, now, meeting_id="99999999999")
    await add_registration(database, other_event, "Koffi Agbo", "koffi@example.bj", now)
    return ids


Row = tuple[str, int | None, str, str | None, dt.datetime, dt.datetime | None]


async def intervals(database: Database) -> list[Row]:
    async with database.read() as db:
        rows = (await db.scalars(select(AttendanceInterval))).all()
    return sorted(
        (r.participant_key, r.registration_id, r.name, r.email, r.joined_at, r.left_at)
        for r in rows
    )


def expected(ids: dict[str, int]) -> list[Row]:
    return sorted(
        [
            ("PU-A", ids["aicha"], "Aïcha Zinsou", "aicha.z@zoom.example", at(0), at(30)),
            ("PU-A", ids["aicha"], "Aïcha Zinsou", "aicha.z@zoom.example", at(40), at(60)),
            ("PU-K", ids["koffi"], "K. Agbo", "koffi@example.bj", at(5), at(120)),
            ("PU-L", ids["li"], "li   XIAOLONG", None, at(10), at(20)),
            ("PU-M", None, "Ama Owusu", None, at(20), at(25)),
            ("u-P", None, "+229 97 00 00 00", None, at(15), at(90)),
        ]
    )


def duplicated_and_shuffled(seed: int) -> list[dict[str, Any]]:
    """Every delivery twice (the same bytes), one join once more with other bytes (a new
    ``event_ts``, as a redelivery after an outage may carry), in a random order."""
    stream = [*STREAM, *STREAM, {**STREAM[1], "event_ts": STREAM[1]["event_ts"] + 7}]
    random.Random(seed).shuffle(stream)
    return stream


@pytest.mark.integration
@pytest.mark.parametrize("order", ["clean", "reversed", 1, 2, 3])
async def test_any_order_with_duplicates_gives_the_clean_attendance(
    client: Client,
    database: Database,
    settings: Settings,
    now: dt.datetime,
    tmp_path: Path,
    order: str | int,
) -> None:
    ids = await setup_meeting(database, now)
    if order == "clean":
        stream = STREAM
    elif order == "reversed":
        stream = [*reversed(STREAM), *STREAM]
    else:
        stream = duplicated_and_shuffled(int(order))
    run = worker(settings, database, tmp_path, now)
    for position, document in enumerate(stream):
        body = encode(document)
        response = await post(client, body, signed(body, now))
        assert response.status_code == 200
        if position % 3 == 0:  # jobs run while later deliveries are still arriving
            await run.drain()
    await run.drain()

    assert await intervals(database) == expected(ids)
    async with database.read() as db:
        deliveries = (await db.scalars(select(WebhookDelivery))).all()
    assert len(deliveries) == len(STREAM) + (0 if order in ("clean", "reversed") else 1)
    assert all(d.processed_at == now for d in deliveries)


@pytest.mark.integration
async def test_meeting_end_closes_open_intervals(
    client: Client, database: Database, settings: Settings, now: dt.datetime, tmp_path: Path
) -> None:
    ids = await setup_meeting(database, now)
    run = worker(settings, database, tmp_path, now)
    for document in (joined(AICHA, 0), joined(PHONE, 3)):
        body = encode(document)
        await post(client, body, signed(body, now))
    await run.drain()
    assert [(r[0], r[1], r[5]) for r in await intervals(database)] == [
        ("PU-A", ids["aicha"], None),
        ("u-P", None, None),
    ]

    body = encode(envelope("meeting.ended", end_time=zoom_time(at(95))))
    await post(client, body, signed(body, now))
    await run.drain()

    assert [(r[0], r[4], r[5]) for r in await intervals(database)] == [
        ("PU-A", at(0), at(95)),
        ("u-P", at(3), at(95)),
    ]


@pytest.mark.integration
async def test_registrant_id_wins_over_email_then_email_over_name(
    client: Client, database: Database, settings: Settings, now: dt.datetime, tmp_path: Path
) -> None:
    ids = await setup_meeting(database, now)
    by_id = person("1", "Koffi Agbo", email="koffi@example.bj", registrant_id="reg-aicha")
    by_email = person("2", "Koffi Agbo", email="li@example.cn", registrant_id="reg-unknown")
    by_name = person("3", "KOFFI  AGBO")
    for document in (joined(by_id, 0), joined(by_email, 1), joined(by_name, 2)):
        body = encode(document)
        await post(client, body, signed(body, now))
    await worker(settings, database, tmp_path, now).drain()

    assert [(r[0], r[1]) for r in await intervals(database)] == [
        ("PU-1", ids["aicha"]),
        ("PU-2", ids["li"]),
        ("PU-3", ids["koffi"]),
    ]


@pytest.mark.integration
async def test_processing_again_changes_nothing(
    client: Client, database: Database, settings: Settings, now: dt.datetime, tmp_path: Path
) -> None:
    ids = await setup_meeting(database, now)
    for document in STREAM:
        body = encode(document)
        await post(client, body, signed(body, now))
    await worker(settings, database, tmp_path, now).drain()
    first = await intervals(database)

    later = now + dt.timedelta(hours=1)
    async with database.read() as db:
        delivery_ids = (await db.scalars(select(WebhookDelivery.id))).all()
    for delivery_id in reversed(delivery_ids):  # a lease expired: every job runs once more
        async with database.write() as db:
            await process_delivery(db, delivery_id, now=later)

    assert await intervals(database) == first == expected(ids)


@pytest.mark.integration
async def test_meeting_of_no_event_is_kept_and_marked_processed(
    client: Client, database: Database, settings: Settings, now: dt.datetime, tmp_path: Path
) -> None:
    body = encode(
        envelope(
            "meeting.participant_joined",
            meeting_id="123",
            participant=AICHA | {"join_time": zoom_time(at(0))},
        )
    )
    assert (await post(client, body, signed(body, now))).status_code == 200
    assert await worker(settings, database, tmp_path, now).drain() == 1
    assert await intervals(database) == []
    async with database.read() as db:
        [delivery] = (await db.scalars(select(WebhookDelivery))).all()
    assert delivery.processed_at == now
