"""What attendees may never learn: an anonymous asker's identity (in any response, page or live
event) and that a question was dismissed. Live events are read from the database, where the
live channel reads them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Role
from tests.api.test_events import HUB, create
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff, make_staff
from tests.qa.conftest import (
    START,
    Stage,
    asked,
    attend,
    listing,
    live_rows,
    moderate,
    moderated,
    vote,
)

pytestmark = pytest.mark.integration

QA_KINDS = ("question", "queue", "qa")


async def qa_rows(database: Database, event_id: int) -> list[tuple[str, dict[str, Any]]]:
    return [row for row in await live_rows(database, event_id) if row[0] in QA_KINDS]


async def text_of(response: Any) -> str:
    return str(await response.get_data(as_text=True))


async def test_an_anonymous_askers_identity_reaches_no_attendee(
    app: Quart, client: Client, stage: Stage, database: Database, organiser: Staff, clock: Clock
) -> None:
    slot = stage.slots[0]
    shy = await attend(database, stage.event_id, "Seraphine Secrete", "seraphine@example.org")
    kofi = await attend(database, stage.event_id, "Kofi Mensah", "kofi@example.org")
    hub = await create(client, organiser, HUB)
    coordinator = await make_staff(
        database, "coord@example.org", Role.HUB_COORDINATOR, now=START, event_id=hub["id"]
    )
    seen: list[str] = []
    created = await client.post(
        f"/api/v1/slots/{slot}/questions",
        json={"text": "Qui finance le projet ?", "language": "fr", "anonymous": True},
        headers=shy.headers,
    )
    seen.append(await text_of(created))
    q = int((await created.get_json())["id"])
    relayed = await asked(
        client,
        coordinator,
        slot,
        "Et la salle ?",
        hub_id=hub["id"],
        name="Yao Cache",
        anonymous=True,
    )
    for action, extra in (
        ("approve", {}),
        ("pin", {}),
        ("edit", {"text": "Qui finance ce projet ?"}),
        ("on_air", {}),
    ):
        await moderated(client, stage.moderator, q, action, **extra)
    await moderated(client, stage.moderator, relayed, "approve")
    for voter in (kofi, shy):
        seen.append(await text_of(await vote(client, voter, q)))
    seen.append(await text_of(await vote(client, kofi, q, up=False)))
    for who in (None, kofi, shy):
        headers = who.headers if who else {}
        seen.append(
            await text_of(await client.get(f"/api/v1/slots/{slot}/questions", headers=headers))
        )
        seen.append(await text_of(await client.get(f"/api/v1/slots/{slot}/qa", headers=headers)))
    https = HTTPSClient(client)
    for path in (
        f"/me/{kofi.token}/qa",
        f"/me/{shy.token}/qa",
        f"/events/{stage.event_id}/qa/presenter",
        f"/events/{stage.event_id}/qa/projector",
    ):
        page = await https.get(path)
        assert page.status_code == 200, path
        seen.append(await text_of(page))
    await moderated(client, stage.moderator, q, "answered")
    seen.append(json.dumps(await qa_rows(database, stage.event_id)))
    everything = "\n".join(seen)
    assert "Qui finance ce projet ?" in everything  # the question itself is shown
    for secret in ("Seraphine", "Secrete", "seraphine@", "Yao Cache", "registration_id"):
        assert secret not in everything, secret
    # The moderators do see who asked: the same reading finds the names there.
    board = await listing(client, slot, stage.moderator, view="moderator")
    names = {x["id"]: x["moderation"]["asker_name"] for x in board["questions"]}
    assert names == {q: "Seraphine Secrete", relayed: "Yao Cache"}


async def test_the_asker_is_never_told_of_a_dismissal(
    client: Client, stage: Stage, database: Database
) -> None:
    slot = stage.slots[0]
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    kofi = await attend(database, stage.event_id, "Kofi", "kofi@example.org")
    q = await asked(client, ama, slot, "Question gênante ?")
    other = await asked(client, kofi, slot, "Autre question ?")
    before = (await listing(client, slot, ama))["mine"]
    assert [(x["id"], x["status"]) for x in before] == [(q, "pending")]
    rows_before = await qa_rows(database, stage.event_id)
    assert rows_before == [("queue", {"slot_id": slot}), ("queue", {"slot_id": slot})]

    await moderated(client, stage.moderator, q, "dismiss")
    assert (await listing(client, slot, ama))["mine"] == before
    # what the stream says is exactly what it said when any question was asked
    assert (await qa_rows(database, stage.event_id))[2:] == [("queue", {"slot_id": slot})]
    on_dismissed = await vote(client, ama, q)
    on_pending = await vote(client, ama, other)
    assert (on_dismissed.status_code, on_pending.status_code) == (404, 404)
    bodies = [await r.get_json() for r in (on_dismissed, on_pending)]
    assert [re.sub(r"\d+", "N", json.dumps(b)) for b in bodies] == [
        '{"code": "NOT_FOUND", "message": "No question with id N."}'
    ] * 2

    await moderated(client, stage.moderator, q, "approve")
    await vote(client, kofi, q)
    await moderated(client, stage.moderator, q, "pin")
    await moderated(client, stage.moderator, q, "dismiss")
    assert (await qa_rows(database, stage.event_id))[-1] == (
        "question",
        {"id": q, "slot_id": slot, "status": "hidden"},
    )
    # once more a question waiting for moderation, with nothing left of its time on show
    assert (await listing(client, slot, ama))["mine"] == before
    assert [x["id"] for x in (await listing(client, slot, kofi))["questions"]] == []


async def test_live_events_follow_what_viewers_see(
    client: Client, stage: Stage, database: Database
) -> None:
    slot = stage.slots[0]
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    kofi = await attend(database, stage.event_id, "Kofi", "kofi@example.org")
    keep = await asked(client, ama, slot, "Quand ?")
    dup = await asked(client, kofi, slot, "Quand donc ?")
    await moderated(client, stage.moderator, keep, "approve")
    await vote(client, kofi, keep)
    await vote(client, kofi, keep)  # no change, no event
    await moderated(client, stage.moderator, dup, "approve")
    await moderated(client, stage.moderator, dup, "merge", into=keep)
    await client.post(
        f"/api/v1/slots/{slot}/qa", json={"open": False}, headers=stage.moderator.headers
    )

    def shown(qid: int, text: str, asker: str, votes: int) -> dict[str, Any]:
        return {
            "id": qid,
            "slot_id": slot,
            "text": text,
            "language": "fr",
            "status": "approved",
            "votes": votes,
            "pinned": False,
            "on_air": False,
            "answered": False,
            "hub": None,
            "asker": asker,
            "created_at": "2026-12-19T12:15:00Z",
        }

    assert await qa_rows(database, stage.event_id) == [
        ("queue", {"slot_id": slot}),
        ("queue", {"slot_id": slot}),
        ("question", shown(keep, "Quand ?", "Ama", 0)),
        ("question", shown(keep, "Quand ?", "Ama", 1)),
        ("question", shown(dup, "Quand donc ?", "Kofi", 0)),
        ("question", {"id": dup, "slot_id": slot, "status": "merged", "merged_into": keep}),
        ("question", shown(keep, "Quand ?", "Ama", 1)),
        ("qa", {"slot_id": slot, "open": False}),
    ]
    refused = await moderate(client, stage.moderator, dup, "approve")
    assert refused.status_code == 409
    assert len(await qa_rows(database, stage.event_id)) == 8
