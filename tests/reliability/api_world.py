"""A small seeded world for the API's hostile-input and fuzzing tests: ids that exist.

Made through the API itself (as its users would), after three chapters and the staff accounts
are written directly (the API has no route for those). After ``seed``: events 1 (Internet10,
published, with its ten slots), 2 (a hub, published, with imported sessions) and 3 (Internet10,
a draft, slots 11 to 20); registrations
1 to 3; slot 1 booked by BJ, slot 2 by SN; Q&A open on slot 1 with question 1 approved; swap 1
(BJ proposes slot 1 <-> 2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from internet10.db import Database
from internet10.models import Chapter, Role
from internet10.services import auth

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
CHAPTERS = (
    ("BJ", "ISOC Benin", "Africa/Porto-Novo"),
    ("SN", "ISOC Senegal", "Africa/Dakar"),
    ("FR", "ISOC France", "Europe/Paris"),
)
I10 = {
    "kind": "internet10",
    "title": "Internet10 2026",
    "starts_at": "2026-12-19T13:00:00+01:00",
    "duration_minutes": 270,
    "timezone": "Africa/Porto-Novo",
    "capacity": 300,
}
HUB = {
    "kind": "hub",
    "title": "Hub IGF Cotonou",
    "starts_at": "2026-12-10T09:00:00+01:00",
    "duration_minutes": 180,
    "timezone": "Africa/Porto-Novo",
    "capacity": 120,
    "upstream_event": "IGF",
    "venue": "Cotonou",
    "seats": 40,
}
AGENDA = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Upstream//Agenda//EN",
        "BEGIN:VEVENT",
        "UID:plenary@upstream",
        "SUMMARY:Opening plenary",
        "DTSTART:20261210T090000Z",
        "DTEND:20261210T103000Z",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)
BOOKING = {
    "title": "Community networks in Benin",
    "abstract": "What we learnt.",
    "language": "fr",
    "speakers": [{"name": "Afi Mensah", "email": "afi@example.org"}],
}


@dataclass
class World:
    organiser: str
    delegate_bj: str
    delegate_sn: str
    attendees: list[str] = field(default_factory=list)  # access tokens of registrations 1..3

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


async def staff(database: Database) -> World:
    """Chapters and staff accounts (the tables must be empty)."""
    async with database.write() as db:
        for code, name, zone in CHAPTERS:
            db.add(
                Chapter(
                    code=code,
                    name=name,
                    country=code,
                    timezone=zone,
                    languages=["fr", "en"],
                    created_at=NOW,
                )
            )
    tokens = []
    for email, role, chapter in (
        ("orga@example.org", Role.ORGANISER, None),
        ("delegate.bj@example.org", Role.DELEGATE, "BJ"),
        ("delegate.sn@example.org", Role.DELEGATE, "SN"),
    ):
        async with database.write() as db:
            created = await auth.create_user(
                db, email=email, role=role, now=NOW, chapter_code=chapter
            )
            tokens.append(created.api_token)
    return World(*tokens)


# (method, path, body, who): who is "organiser", "bj", "sn" or "attendee:<n>"
Send = Callable[[str, str, Any, dict[str, str]], Awaitable[tuple[int, Any]]]
STEPS: tuple[tuple[str, str, Any, str, int], ...] = (
    ("POST", "/api/v1/events", I10, "organiser", 201),
    ("POST", "/api/v1/events", HUB, "organiser", 201),
    ("POST", "/api/v1/events/1/publish", None, "organiser", 200),
    ("POST", "/api/v1/events/2/publish", None, "organiser", 200),
    ("POST", "/api/v1/events/2/sessions/import", {"ics": AGENDA}, "organiser", 200),
    ("POST", "/api/v1/slots/1/booking", {**BOOKING, "chapter": "BJ"}, "organiser", 201),
    ("POST", "/api/v1/slots/2/booking", {**BOOKING, "chapter": "SN"}, "organiser", 201),
    ("POST", "/api/v1/slots/1/swaps", {"to_slot_id": 2}, "bj", 201),
    ("POST", "/api/v1/slots/1/qa", {"open": True}, "organiser", 200),
    ("POST", "/api/v1/events", {**I10, "title": "Internet10 draft"}, "organiser", 201),
)


def registration(n: int) -> dict[str, Any]:
    return {
        "name": f"Attendee {n}",
        "email": f"attendee{n}@example.org",
        "country": "BJ",
        "language": "fr",
    }


async def seed(world: World, send: Send) -> None:
    """Make the world through the API; every step must answer as expected."""

    async def step(method: str, path: str, body: Any, who: str, expected: int) -> Any:
        token = {"organiser": world.organiser, "bj": world.delegate_bj, "sn": world.delegate_sn}
        if who.startswith("attendee:"):
            bearer = world.attendees[int(who.split(":")[1]) - 1]
        elif who == "anonymous":
            bearer = ""
        else:
            bearer = token[who]
        status, data = await send(method, path, body, world.bearer(bearer) if bearer else {})
        assert status == expected, (method, path, status, data)
        return data

    for method, path, body, who, expected in STEPS:
        await step(method, path, body, who, expected)
    for n, event_id in ((1, 1), (2, 1), (3, 2)):
        created = await step(
            "POST", f"/api/v1/events/{event_id}/registrations", registration(n), "anonymous", 201
        )
        assert created["id"] == n
        world.attendees.append(created["access_token"])
    asked = await step(
        "POST",
        "/api/v1/slots/1/questions",
        {"text": "How many community networks?", "language": "en"},
        "attendee:1",
        201,
    )
    assert asked["id"] == 1
    await step("POST", "/api/v1/questions/1/moderation", {"action": "approve"}, "organiser", 200)
