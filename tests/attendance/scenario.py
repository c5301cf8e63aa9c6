"""One constructed, finished Internet10 session whose every figure is worked out by hand below,
and a few hubs around the turn of the year.

The session (Africa/Porto-Novo, UTC+1) ran 06:00-08:00 UTC; ``now`` is 09:00 UTC.

People (union of their visits, clipped to the session):
- Aïcha (BJ, registered, clicked Join): Zoom 06:00-06:30 and 06:40-07:50, a second device in
  Zoom's report 06:20-06:45: one person, 06:00-07:50 = 110 min;
- Moussa (SN, registered, clicked Join): 06:10-07:00 = 50 min;
- Kossi (BJ, registered in the room, checked in): in the room from 06:02 (until the end, 08:00),
  and online 07:30-07:40 as well: one person, in both places, 118 min;
- a phone guest: 06:55-07:25 = 30 min;
- a guest named "=cmd" for 30 seconds: seen, but under the minute that counts.
Awa is waitlisted and never came; Yao cancelled.

Concurrent people: 06:00 1, 06:02 2, 06:10 3, 06:55 4 (the peak), 07:00 3, 07:25 2, 07:50 1,
08:00 0. Attended 4; total 308 min; median 80 min; in the room 1; online 4.

Slots (planned, as run): 1 BJ 06:00-06:50 ran 06:05-06:55 (people: Aïcha, Moussa, Kossi = 3;
the guest arrived at its end); 2 SN 06:50-07:40 ran 06:55-07:50, extended 5 min (4 people);
3 no chapter 07:40-08:00, skipped.

Q&A: slot 1 asked 5 (two approved with 3 votes each, the older one answered; one dismissed, one
merged, one pending): top voted is the older one; slot 2 asked 1 (approved, no vote); slot 3
none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from internet10.db import Database
from internet10.models import (
    AttendanceInterval,
    Chapter,
    Event,
    Question,
    Registration,
    Slot,
    Vote,
)

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
START = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
TOP_QUESTION = "Comment financer l’accès rural ?"


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return START.replace(hour=hour, minute=minute, second=second)


@dataclass(frozen=True)
class Scenario:
    event_id: int
    slots: tuple[int, int, int]
    aicha: int
    moussa: int
    kossi: int
    awa: int
    yao: int


async def build(database: Database) -> Scenario:
    async with database.write() as db:
        bj = Chapter(
            code="BJ",
            name="ISOC Benin",
            country="BJ",
            timezone="Africa/Porto-Novo",
            languages=["fr"],
            created_at=NOW,
        )
        sn = Chapter(
            code="SN",
            name="ISOC Senegal",
            country="SN",
            timezone="Africa/Dakar",
            languages=["fr"],
            created_at=NOW,
        )
        event = Event(
            kind="internet10",
            title="Internet10 2026",
            starts_at=START,
            duration_minutes=120,
            timezone="Africa/Porto-Novo",
            capacity=300,
            participant_target=150,
            status="ended",
            created_at=NOW,
            updated_at=NOW,
        )
        db.add_all([bj, sn, event])
        await db.flush()

        def slot(
            position: int,
            chapter: Chapter | None,
            planned: dt.datetime,
            minutes: tuple[int, int],
            ran: tuple[dt.datetime, dt.datetime] | None,
            **extra: object,
        ) -> Slot:
            return Slot(
                event_id=event.id,
                position=position,
                starts_at=planned,
                presentation_minutes=minutes[0],
                debate_minutes=minutes[1],
                chapter_id=chapter.id if chapter else None,
                title="Accès rural" if chapter is bj else None,
                actual_started_at=ran[0] if ran else None,
                actual_ended_at=ran[1] if ran else None,
                updated_at=NOW,
                **extra,
            )

        slots = [
            slot(1, bj, at(6, 0), (30, 20), (at(6, 5), at(6, 55))),
            slot(2, sn, at(6, 50), (30, 20), (at(6, 55), at(7, 50)), extended_minutes=5),
            slot(3, None, at(7, 40), (15, 5), None, skipped=True),
        ]
        db.add_all(slots)

        def person(name: str, email: str, chapter: Chapter | None, **extra: object) -> Registration:
            fields: dict[str, object] = {
                "country": chapter.country if chapter else "SN",
                "language": "fr",
                "mode": "online",
                "status": "confirmed",
            }
            fields.update(extra)
            return Registration(
                event_id=event.id,
                name=name,
                email=email,
                chapter_id=chapter.id if chapter else None,
                created_at=NOW,
                updated_at=NOW,
                **fields,
            )

        aicha = person("Aïcha Zinsou", "aicha@example.bj", bj, join_clicked_at=at(5, 59))
        moussa = person("Moussa Diop", "moussa@example.sn", sn, join_clicked_at=at(6, 9))
        kossi = person(
            "Kossi Agbo", "kossi@example.bj", bj, mode="in_person", checked_in_at=at(6, 2)
        )
        awa = person("Awa Ndiaye", "awa@example.sn", None, status="waitlisted", language="en")
        yao = person("Yao Mensah", "yao@example.bj", bj, status="cancelled", cancelled_at=NOW)
        people = [aicha, moussa, kossi, awa, yao]
        db.add_all(people)
        await db.flush()

        def visit(
            registration: Registration | None,
            source: str,
            key: str,
            joined: dt.datetime,
            left: dt.datetime | None,
            name: str = "",
        ) -> AttendanceInterval:
            return AttendanceInterval(
                event_id=event.id,
                registration_id=registration.id if registration else None,
                source=source,
                participant_key=key,
                name=name or (registration.name if registration else ""),
                email=registration.email if registration else None,
                joined_at=joined,
                left_at=left,
                created_at=NOW,
            )

        db.add_all(
            [
                visit(aicha, "zoom", "P1", at(6, 0), at(6, 30)),
                visit(aicha, "zoom", "P1", at(6, 40), at(7, 50)),
                visit(aicha, "report", "P9", at(6, 20), at(6, 45)),
                visit(moussa, "zoom", "P2", at(6, 10), at(7, 0)),
                visit(kossi, "checkin", "R3", at(6, 2), None),
                visit(kossi, "zoom", "P3", at(7, 30), at(7, 40)),
                visit(None, "zoom", "phone-1", at(6, 55), at(7, 25), name="+229 97 00 00 01"),
                visit(None, "zoom", "G2", at(7, 0), at(7, 0, 30), name="=cmd"),
            ]
        )

        def question(
            slot_row: Slot, text: str, status: str, minute: int, **extra: object
        ) -> Question:
            return Question(
                slot_id=slot_row.id,
                registration_id=aicha.id,
                text=text,
                language="fr",
                status=status,
                created_at=at(6, minute),
                updated_at=at(6, minute),
                **extra,
            )

        top = question(slots[0], TOP_QUESTION, "approved", 10, answered_at=at(6, 40))
        tie = question(slots[0], "Et les satellites ?", "approved", 12)
        db.add_all([top, tie])
        await db.flush()
        db.add_all(
            [
                question(slots[0], "Hors sujet", "dismissed", 13),
                question(slots[0], "Financer l’accès ?", "merged", 14, merged_into_id=top.id),
                question(slots[0], "Et le mobile ?", "pending", 15),
                question(slots[1], "Quel cadre légal ?", "approved", 58),
            ]
        )
        for q, voters in ((top, (aicha, moussa, kossi)), (tie, (aicha, moussa, awa))):
            for voter in voters:
                db.add(Vote(question_id=q.id, registration_id=voter.id, created_at=at(6, 20)))
        event_id = event.id
        slot_ids = (slots[0].id, slots[1].id, slots[2].id)
        ids = [p.id for p in people]
    return Scenario(event_id, slot_ids, *ids)


async def add_hub(
    database: Database,
    title: str,
    starts_at: dt.datetime,
    *,
    target: int,
    status: str = "ended",
    guests: int = 0,
) -> int:
    """A hub with ``guests`` unregistered people online for its first 10 minutes each."""
    async with database.write() as db:
        hub = Event(
            kind="hub",
            title=title,
            upstream_event="IGF",
            venue="Cotonou",
            seats=30,
            starts_at=starts_at,
            duration_minutes=120,
            timezone="Africa/Porto-Novo",
            capacity=60,
            participant_target=target,
            status=status,
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(hub)
        await db.flush()
        for n in range(guests):
            db.add(
                AttendanceInterval(
                    event_id=hub.id,
                    registration_id=None,
                    source="zoom",
                    participant_key=f"guest-{n}",
                    name=f"Guest {n}",
                    email=None,
                    joined_at=starts_at,
                    left_at=starts_at + dt.timedelta(minutes=10),
                    created_at=NOW,
                )
            )
        return hub.id
