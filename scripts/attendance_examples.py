"""Make the example attendance report (PDF) and chart (PNG) shown in the README.

    python scripts/attendance_examples.py [--out docs/examples] [--lang en|fr]

Builds a finished Internet10 session from constructed, demo-like data (ten chapters, about 190
registrations, Zoom visits with re-joins and second devices, people in the room, phone guests,
questions and votes; pseudo-random with a fixed seed, so every run gives the same figures) in a
throwaway SQLite database, then asks the real app for ``/organiser/events/<id>/report.pdf`` and
``/organiser/events/<id>/attendance.png`` as an organiser would.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from internet10.app import create_app  # noqa: E402 - after the path is set
from internet10.db import Database  # noqa: E402
from internet10.demo import CHAPTERS  # noqa: E402
from internet10.migrate import upgrade  # noqa: E402
from internet10.models import (  # noqa: E402
    AttendanceInterval,
    Chapter,
    Event,
    Question,
    Registration,
    Role,
    Slot,
    Vote,
)
from internet10.services import auth  # noqa: E402
from internet10.settings import load_settings  # noqa: E402
from internet10.state import Dependencies  # noqa: E402

START = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
NOW = START + dt.timedelta(hours=6)
SEATS = {"BJ": 64, "SN": 24}  # registrations per chapter; the others get 12 each
TITLES = (
    "Accès rural et réseaux communautaires",
    "Neutralité du réseau",
    "Community networks in the Rift Valley",
    "Câbles sous-marins et résilience",
    "Digital public infrastructure",
    "Internet shutdowns: measuring them",
    "IPv6 in Japanese ISPs",
    "Inclusão digital nas favelas",
    "Connecting remote outports",
    "Municipal broadband",
)
QUESTIONS = (
    "Combien coûte un réseau communautaire ?",
    "How do you fund the backhaul?",
    "Quel rôle pour les régulateurs ?",
    "What did the measurements show?",
    "Comment former les jeunes ?",
    "Which policies helped most?",
    "Quelles leçons pour le Bénin ?",
    "How do you keep it running?",
    "Et les coûts de l’énergie ?",
)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


async def build(database: Database) -> int:
    """The session, its running order as run, registrations, visits and questions."""
    rng = random.Random(2026)  # noqa: S311 - example data, not security
    async with database.write() as db:
        chapters = [
            Chapter(
                code=code,
                name=name,
                country=country,
                timezone=zone,
                languages=languages,
                created_at=NOW,
            )
            for code, name, country, zone, languages in CHAPTERS
        ]
        event = Event(
            kind="internet10",
            title="Internet10 — l'Internet en dix chapitres",
            starts_at=START,
            duration_minutes=270,
            timezone="Africa/Porto-Novo",
            capacity=300,
            participant_target=150,
            status="ended",
            created_at=NOW,
            updated_at=NOW,
        )
        db.add_all([*chapters, event])
        await db.flush()

        slots, drift = [], 0.0
        for index, chapter in enumerate(chapters):
            planned = START + minutes(10 + index * 25)
            ran = planned + minutes(drift)
            extended = 5 if index == 6 else 0
            length = 25 + extended + rng.choice((-2, 0, 1, 2, 3, 4))
            drift = (ran + minutes(length) - planned - minutes(25)).total_seconds() / 60
            slots.append(
                Slot(
                    event_id=event.id,
                    position=index + 1,
                    starts_at=planned,
                    presentation_minutes=18,
                    debate_minutes=7,
                    chapter_id=chapter.id,
                    title=TITLES[index],
                    language=chapter.languages[0],
                    actual_started_at=ran,
                    actual_ended_at=ran + minutes(length),
                    extended_minutes=extended,
                    updated_at=NOW,
                )
            )
        db.add_all(slots)

        people: list[Registration] = []
        for chapter in chapters:
            for n in range(SEATS.get(chapter.code, 12)):
                in_room = chapter.code == "BJ" and n < 24
                status = (
                    "cancelled" if n % 17 == 5 else "waitlisted" if n % 23 == 7 else "confirmed"
                )
                people.append(
                    Registration(
                        event_id=event.id,
                        name=f"{chapter.code} participant {n + 1}",
                        email=f"p{n}@{chapter.code.lower()}.example",
                        country=chapter.country,
                        language=rng.choice(chapter.languages),
                        chapter_id=chapter.id,
                        mode="in_person" if in_room else "online",
                        status=status,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
        db.add_all(people)
        await db.flush()

        visits: list[AttendanceInterval] = []

        def visit(
            person: Registration | None,
            source: str,
            key: str,
            joined: dt.datetime,
            left: dt.datetime | None,
            name: str = "",
        ) -> None:
            visits.append(
                AttendanceInterval(
                    event_id=event.id,
                    registration_id=person.id if person else None,
                    source=source,
                    participant_key=key,
                    name=name or (person.name if person else ""),
                    email=None,
                    joined_at=joined,
                    left_at=left,
                    created_at=NOW,
                )
            )

        confirmed = [p for p in people if p.status == "confirmed"]
        for n, person in enumerate(confirmed):
            if person.mode == "in_person":
                if n % 5 != 4:  # most came; they are checked in at the door
                    person.checked_in_at = START + minutes(rng.uniform(-20, 40))
                    visit(person, "checkin", f"room-{person.id}", person.checked_in_at, None)
                continue
            if rng.random() < 0.08:
                continue  # never clicked Join
            person.join_clicked_at = START + minutes(rng.triangular(-15, 50, 0))
            if rng.random() < 0.07:
                continue  # clicked, never came
            joined = person.join_clicked_at + minutes(rng.uniform(0.5, 4))
            stay = rng.triangular(40, 280, 260)
            left = min(joined + minutes(stay), START + minutes(272))
            key = f"zoom-{person.id}"
            if rng.random() < 0.22:  # dropped and came back
                gap_at = joined + minutes(rng.uniform(10, stay * 0.7))
                visit(person, "zoom", key, joined, gap_at)
                joined = gap_at + minutes(rng.uniform(1, 12))
            visit(person, "zoom", key, joined, max(left, joined + minutes(1)))
            if rng.random() < 0.08:  # a phone as well, seen in Zoom's report
                second = joined + minutes(rng.uniform(5, 30))
                visit(person, "report", f"phone-{person.id}", second, second + minutes(40))
        for n in range(11):  # phone guests and people who never registered
            joined = START + minutes(rng.uniform(0, 120))
            visit(
                None,
                "zoom",
                f"guest-{n}",
                joined,
                joined + minutes(rng.uniform(0.2, 90)),
                name=f"Guest {n + 1}",
            )
        db.add_all(visits)
        await db.flush()

        voters = [p for p in confirmed if p.join_clicked_at is not None]
        for slot in slots:
            asked = rng.randint(2, 8)
            for n in range(asked):
                status = rng.choice(("approved", "approved", "approved", "pending", "dismissed"))
                question = Question(
                    slot_id=slot.id,
                    registration_id=rng.choice(voters).id,
                    text=QUESTIONS[(slot.position + n) % len(QUESTIONS)],
                    language=slot.language or "en",
                    status=status,
                    answered_at=slot.actual_ended_at
                    if status == "approved" and rng.random() < 0.6
                    else None,
                    created_at=slot.actual_started_at or slot.starts_at,
                    updated_at=NOW,
                )
                db.add(question)
                await db.flush()
                if status == "approved":
                    for voter in rng.sample(voters, rng.randint(0, 14)):
                        db.add(
                            Vote(question_id=question.id, registration_id=voter.id, created_at=NOW)
                        )
        return event.id


async def make(out: Path, language: str) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'examples.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        settings = load_settings(
            {}, database_url=url, secret_key="examples-" + "x" * 40, base_url="http://127.0.0.1"
        )
        database = Database(settings)
        try:
            event_id = await build(database)
            async with database.write() as db:
                organiser = await auth.create_user(
                    db, email="organiser@example.org", role=Role.ORGANISER, now=NOW
                )
            app = create_app(
                settings, dependencies=Dependencies(database=database, clock=lambda: NOW)
            )
            headers = {"Authorization": f"Bearer {organiser.api_token}"}
            written = []
            async with app.test_app():
                client = app.test_client()
                for path, name in (
                    (f"/organiser/events/{event_id}/report.pdf", "attendance-report.pdf"),
                    (f"/organiser/events/{event_id}/attendance.png", "attendance.png"),
                ):
                    response = await client.get(f"{path}?lang={language}", headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path} answered {response.status_code}")
                    target = out / name
                    target.write_bytes(await response.get_data())
                    written.append(target)
            return written
        finally:
            await database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "examples")
    parser.add_argument("--lang", choices=("en", "fr"), default="en")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(make(args.out, args.lang)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
