"""Asking, the order questions are shown in, votes, and every moderation action."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Role
from tests.api.test_events import HUB, create
from tests.clock import Clock
from tests.conftest import Staff, make_staff
from tests.qa.conftest import (
    START,
    Attendee,
    Stage,
    ask,
    asked,
    attend,
    listing,
    moderate,
    moderated,
    published_event,
    vote,
)

pytestmark = pytest.mark.integration


async def crowd(database: Database, event_id: int, count: int) -> list[Attendee]:
    return [
        await attend(database, event_id, f"Person {i}", f"p{i}@example.org") for i in range(count)
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "", "language": "fr"}, "text"),
        ({"text": "   \n ", "language": "fr"}, "text"),
        ({"text": "x" * 501, "language": "fr"}, "text"),
        ({"text": "<b>Gras</b> ?", "language": "fr"}, "text"),
        ({"text": "Voir <a href='x'>ici</a>", "language": "fr"}, "text"),
        ({"text": "a\x00b", "language": "fr"}, "text"),
        ({"text": "Question ?", "language": "de"}, "language"),
        ({"text": "Question ?"}, "language"),
        ({"language": "fr"}, "text"),
        ({"text": "Question ?", "language": "fr", "anonymous": "yes"}, "anonymous"),
        ({"text": "Question ?", "language": "fr", "votes": 3}, "votes"),
    ],
)
async def test_bad_questions_are_refused_naming_the_field(
    client: Client, stage: Stage, database: Database, body: dict[str, Any], field: str
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    response = await client.post(
        f"/api/v1/slots/{stage.slots[0]}/questions", json=body, headers=ama.headers
    )
    assert response.status_code == 422
    answer = await response.get_json()
    assert (answer["code"], answer["field"]) == ("VALIDATION_ERROR", field)


async def test_plain_text_up_to_500_characters_is_kept_as_typed(
    client: Client, stage: Stage, database: Database, organiser: Staff
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    longest = "é" * 500
    comparison = "Si a < b and c > d, alors ?\r\nEt <3 ?"
    first = await asked(client, ama, stage.slots[0], longest)
    second = await asked(client, ama, stage.slots[0], f"  {comparison}  ")
    board = await listing(client, stage.slots[0], organiser, view="moderator")
    assert [q["text"] for q in board["pending"]] == [
        longest,
        "Si a < b and c > d, alors ?\nEt <3 ?",
    ]
    assert [q["id"] for q in board["pending"]] == [first, second]


async def test_who_may_ask(
    client: Client, stage: Stage, database: Database, organiser: Staff
) -> None:
    slot = stage.slots[0]
    nobody = await client.post(
        f"/api/v1/slots/{slot}/questions", json={"text": "Q ?", "language": "fr"}
    )
    assert nobody.status_code == 401
    staff_without_hub = await ask(client, organiser, slot)
    assert staff_without_hub.status_code == 422
    assert (await staff_without_hub.get_json())["field"] == "hub_id"
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    posing = await ask(client, ama, slot, hub_id=1)
    assert (posing.status_code, (await posing.get_json())["field"]) == (422, "hub_id")
    other_event, _ = await published_event(client, organiser)
    elsewhere = await attend(database, other_event, "Kofi", "kofi@example.org")
    refused = await ask(client, elsewhere, slot)
    assert (refused.status_code, (await refused.get_json())["code"]) == (403, "NOT_REGISTERED")
    cancel = await client.delete(
        f"/api/v1/registrations/{ama.registration_id}", headers=ama.headers
    )
    assert cancel.status_code == 200
    gone = await ask(client, ama, slot)
    assert (gone.status_code, (await gone.get_json())["code"]) == (403, "REGISTRATION_CANCELLED")
    missing = await ask(client, elsewhere, 999_999)
    assert missing.status_code == 404


async def test_approved_questions_are_pinned_then_by_votes_then_time_answered_last(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    slot = stage.slots[0]
    people = await crowd(database, stage.event_id, 4)
    ids = []
    for i in range(5):
        ids.append(await asked(client, people[0], slot, f"Question {i + 1}"))
        clock.advance(seconds=10)
    q1, q2, q3, q4, q5 = ids
    for q in ids:
        await moderated(client, stage.moderator, q, "approve")
    for person in people[:2]:
        await vote(client, person, q2)
        await vote(client, person, q3)
    await vote(client, people[2], q4)
    for person in people[1:]:
        await vote(client, person, q5)
    await moderated(client, stage.moderator, q5, "answered")
    await moderated(client, stage.moderator, q1, "pin")
    await moderated(client, stage.moderator, q4, "on_air")
    board = await listing(client, slot)
    assert [
        (q["id"], q["votes"], q["pinned"], q["on_air"], q["answered"]) for q in board["questions"]
    ] == [
        (q1, 0, True, False, False),
        (q2, 2, False, False, False),
        (q3, 2, False, False, False),
        (q4, 1, False, True, False),
        (q5, 3, False, False, True),
    ]
    assert board["questions"][1] == {
        "id": q2,
        "slot_id": slot,
        "text": "Question 2",
        "language": "fr",
        "status": "approved",
        "votes": 2,
        "pinned": False,
        "on_air": False,
        "answered": False,
        "hub": None,
        "asker": "Person 0",
        "created_at": "2026-12-19T12:15:10Z",
        "voted": None,
        "merged_into": None,
        "moderation": None,
    }
    assert (board["open"], board["mine"], board["pending"]) == (True, [], [])


async def test_one_question_is_on_air_at_a_time_and_answering_takes_it_off(
    client: Client, stage: Stage, database: Database
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    first = await asked(client, ama, stage.slots[0], "Première")
    second = await asked(client, ama, stage.slots[0], "Deuxième")
    on_air = await moderated(client, stage.moderator, first, "on_air")
    assert (on_air["status"], on_air["on_air"]) == ("approved", True)  # approved on the way
    await moderated(client, stage.moderator, second, "pin")
    await moderated(client, stage.moderator, second, "on_air")
    flags = {q["id"]: q["on_air"] for q in (await listing(client, stage.slots[0]))["questions"]}
    assert flags == {first: False, second: True}
    answered = await moderated(client, stage.moderator, second, "answered")
    assert (answered["on_air"], answered["pinned"], answered["answered"]) == (False, False, True)


async def test_a_vote_counts_once_and_can_be_withdrawn(
    client: Client, stage: Stage, database: Database
) -> None:
    ama, kofi = await crowd(database, stage.event_id, 2)
    q = await asked(client, ama, stage.slots[0], "Question ?")
    await moderated(client, stage.moderator, q, "approve")
    for _ in range(2):
        response = await vote(client, kofi, q)
        assert response.status_code == 200
        assert await response.get_json() == {"id": q, "votes": 1, "voted": True}
    mine = await listing(client, stage.slots[0], kofi)
    assert [(x["id"], x["voted"]) for x in mine["questions"]] == [(q, True)]
    for _ in range(2):
        withdrawn = await vote(client, kofi, q, up=False)
        assert await withdrawn.get_json() == {"id": q, "votes": 0, "voted": False}
    assert (await vote(client, kofi, 999_999)).status_code == 404
    assert (await client.post(f"/api/v1/questions/{q}/vote")).status_code == 401


async def test_votes_close_with_the_window(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    ama, kofi = await crowd(database, stage.event_id, 2)
    q = await asked(client, ama, stage.slots[0], "Question ?")
    await moderated(client, stage.moderator, q, "approve")
    clock.now = START + dt.timedelta(minutes=38)
    closed = await vote(client, kofi, q)
    assert (closed.status_code, (await closed.get_json())["code"]) == (409, "QA_CLOSED")


async def test_merging_counts_each_voter_once(
    client: Client, stage: Stage, database: Database
) -> None:
    a, b, c, d = await crowd(database, stage.event_id, 4)
    keep = await asked(client, a, stage.slots[0], "Quand le rapport sera-t-il publié ?")
    dup = await asked(client, b, stage.slots[0], "Le rapport sort quand ?")
    for q in (keep, dup):
        await moderated(client, stage.moderator, q, "approve")
    for voter, q in ((a, keep), (b, keep), (b, dup), (c, dup)):
        await vote(client, voter, q)
    merged = await moderated(client, stage.moderator, dup, "merge", into=keep)
    assert (merged["status"], merged["merged_into"], merged["votes"]) == ("merged", keep, 0)
    board = await listing(client, stage.slots[0])
    assert [(q["id"], q["votes"]) for q in board["questions"]] == [(keep, 3)]
    redirected = await vote(client, d, dup)
    assert await redirected.get_json() == {"id": keep, "votes": 4, "voted": True}
    again = await moderate(client, stage.moderator, dup, "approve")
    assert (again.status_code, (await again.get_json())["code"]) == (409, "QUESTION_MERGED")
    log = await (
        await client.get(
            f"/api/v1/slots/{stage.slots[0]}/moderation", headers=stage.moderator.headers
        )
    ).get_json()
    assert log["actions"][-1] | {"id": 0} == {
        "id": 0,
        "action": "merge",
        "question_id": dup,
        "by": "mod@example.org",
        "at": "2026-12-19T12:15:00Z",
        "details": {"into": keep, "votes_moved": 1, "votes_in_both": 1},
    }


async def test_merge_targets_must_be_live_questions_of_the_same_slot(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    a = await asked(client, ama, stage.slots[0], "A ?")
    b = await asked(client, ama, stage.slots[0], "B ?")
    c = await asked(client, ama, stage.slots[0], "C ?")
    clock.now = START + dt.timedelta(minutes=40)
    elsewhere = await asked(client, ama, stage.slots[1], "D ?")
    await moderated(client, stage.moderator, c, "dismiss")
    for into in (a, elsewhere, c, None, 999_999):
        extra = {} if into is None else {"into": into}
        refused = await moderate(client, stage.moderator, a, "merge", **extra)
        assert refused.status_code == 422, into
        assert (await refused.get_json())["field"] == "into"
    await moderated(client, stage.moderator, b, "merge", into=a)
    # a question merged into b before b was merged now points at a: no chains
    await moderated(client, stage.moderator, a, "approve")
    board = await listing(client, stage.slots[0], stage.moderator, view="moderator")
    assert [(q["id"], q["merged_into"]) for q in board["merged"]] == [(b, a)]
    assert [q["id"] for q in board["dismissed"]] == [c]


async def test_editing_keeps_the_askers_words(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Quelle est la feuile de route ?")
    clock.advance(seconds=30)
    edited = await moderated(
        client, stage.moderator, q, "edit", text="Quelle est la feuille de route ?"
    )
    assert edited["text"] == "Quelle est la feuille de route ?"
    assert edited["moderation"]["original_text"] == "Quelle est la feuile de route ?"
    await moderated(client, stage.moderator, q, "edit", text="What is the roadmap?", language="en")
    same = await moderated(client, stage.moderator, q, "edit", text="What is the roadmap?")
    assert same["moderation"]["original_text"] == "Quelle est la feuile de route ?"
    missing = await moderate(client, stage.moderator, q, "edit")
    assert (missing.status_code, (await missing.get_json())["field"]) == (422, "text")
    log = await (
        await client.get(
            f"/api/v1/slots/{stage.slots[0]}/moderation", headers=stage.moderator.headers
        )
    ).get_json()
    assert [(a["action"], a["by"], a["at"], a["details"]) for a in log["actions"]] == [
        (
            "edit",
            "mod@example.org",
            "2026-12-19T12:15:30Z",
            {
                "before": "Quelle est la feuile de route ?",
                "after": "Quelle est la feuille de route ?",
                "original": "Quelle est la feuile de route ?",
            },
        ),
        (
            "edit",
            "mod@example.org",
            "2026-12-19T12:15:30Z",
            {
                "before": "Quelle est la feuille de route ?",
                "after": "What is the roadmap?",
                "original": "Quelle est la feuile de route ?",
                "language": ["fr", "en"],
            },
        ),
    ]
    await moderated(client, stage.moderator, q, "approve")
    public = (await listing(client, stage.slots[0]))["questions"][0]
    assert (public["text"], public["language"], public["moderation"]) == (
        "What is the roadmap?",
        "en",
        None,
    )


async def test_every_action_is_logged_with_who_and_when_and_repeats_are_not(
    client: Client, stage: Stage, database: Database, organiser: Staff, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Question ?")
    steps = [
        (stage.moderator, "approve"),
        (stage.moderator, "approve"),
        (organiser, "pin"),
        (stage.moderator, "unpin"),
        (stage.moderator, "on_air"),
        (stage.moderator, "off_air"),
        (stage.moderator, "dismiss"),
        (stage.moderator, "approve"),
        (stage.moderator, "answered"),
    ]
    for staff, action in steps:
        clock.advance(seconds=1)
        await moderated(client, staff, q, action)
    await client.post(
        f"/api/v1/slots/{stage.slots[0]}/qa", json={"open": False}, headers=organiser.headers
    )
    log = await (
        await client.get(f"/api/v1/slots/{stage.slots[0]}/moderation", headers=organiser.headers)
    ).get_json()
    assert [(a["action"], a["question_id"], a["by"], a["at"][11:19]) for a in log["actions"]] == [
        ("approve", q, "mod@example.org", "12:15:01"),
        ("pin", q, "orga@example.org", "12:15:03"),
        ("unpin", q, "mod@example.org", "12:15:04"),
        ("on_air", q, "mod@example.org", "12:15:05"),
        ("off_air", q, "mod@example.org", "12:15:06"),
        ("dismiss", q, "mod@example.org", "12:15:07"),
        ("approve", q, "mod@example.org", "12:15:08"),
        ("answered", q, "mod@example.org", "12:15:09"),
        ("close", None, "orga@example.org", "12:15:09"),
    ]
    assert (
        await client.get(f"/api/v1/slots/{stage.slots[0]}/moderation", headers=ama.headers)
    ).status_code == 401


async def test_a_dismissed_question_is_approved_before_it_is_pinned(
    client: Client, stage: Stage, database: Database
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Question ?")
    await moderated(client, stage.moderator, q, "dismiss")
    for action in ("pin", "on_air", "answered"):
        refused = await moderate(client, stage.moderator, q, action)
        assert (refused.status_code, (await refused.get_json())["code"]) == (
            409,
            "QUESTION_DISMISSED",
        )


async def test_only_the_events_moderators_moderate(
    client: Client, stage: Stage, database: Database, organiser: Staff
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Question ?")
    other_event, _ = await published_event(client, organiser)
    theirs = await make_staff(
        database, "m2@example.org", Role.MODERATOR, now=START, event_id=other_event
    )
    assert (await moderate(client, theirs, q, "approve")).status_code == 403
    anonymous = await client.post(f"/api/v1/questions/{q}/moderation", json={"action": "approve"})
    assert anonymous.status_code == 401
    as_attendee = await moderate(client, ama, q, "approve")  # type: ignore[arg-type]
    assert as_attendee.status_code == 401
    unknown = await moderate(client, stage.moderator, q, "delete")
    assert (unknown.status_code, (await unknown.get_json())["field"]) == (422, "action")
    assert (await moderate(client, stage.moderator, 999_999, "approve")).status_code == 404
    assert (
        await client.get(
            f"/api/v1/slots/{stage.slots[0]}/questions?view=moderator", headers=theirs.headers
        )
    ).status_code == 403
    assert (
        await client.get(
            f"/api/v1/slots/{stage.slots[0]}/questions?view=moderator", headers=ama.headers
        )
    ).status_code == 401
    bad = await client.get(f"/api/v1/slots/{stage.slots[0]}/questions?view=all")
    assert (bad.status_code, (await bad.get_json())["field"]) == (422, "view")


async def test_moderators_see_every_question_with_its_asker(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    ama, kofi = await crowd(database, stage.event_id, 2)
    shy = await asked(client, ama, stage.slots[0], "Question discrète", anonymous=True)
    clock.advance(seconds=5)
    plain = await asked(client, kofi, stage.slots[0], "Question ouverte")
    board = await listing(client, stage.slots[0], stage.moderator, view="moderator")
    assert [q["id"] for q in board["pending"]] == [shy, plain]
    assert board["pending"][0] == {
        "id": shy,
        "slot_id": stage.slots[0],
        "text": "Question discrète",
        "language": "fr",
        "status": "pending",
        "votes": 0,
        "pinned": False,
        "on_air": False,
        "answered": False,
        "hub": None,
        "asker": None,
        "created_at": "2026-12-19T12:15:00Z",
        "voted": None,
        "merged_into": None,
        "moderation": {
            "anonymous": True,
            "asker_name": "Person 0",
            "registration_id": ama.registration_id,
            "relayed_by_hub_id": None,
            "original_text": None,
            "updated_at": "2026-12-19T12:15:00Z",
        },
    }
    assert (board["questions"], board["dismissed"], board["merged"]) == ([], [], [])


async def test_questions_stay_archived_once_the_window_closes(
    client: Client, stage: Stage, database: Database, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Question ?")
    await moderated(client, stage.moderator, q, "approve")
    clock.now = START + dt.timedelta(hours=6)  # after the whole event
    board = await listing(client, stage.slots[0], ama)
    assert (board["open"], [x["id"] for x in board["questions"]]) == (False, [q])
    assert [(x["id"], x["status"]) for x in board["mine"]] == [(q, "approved")]


async def test_hub_coordinators_relay_their_rooms_questions(
    client: Client, stage: Stage, database: Database, organiser: Staff
) -> None:
    hub = await create(client, organiser, HUB)
    other_hub = await create(client, organiser, HUB | {"title": "Hub IETF Lomé"})
    coordinator = await make_staff(
        database, "coord@example.org", Role.HUB_COORDINATOR, now=START, event_id=hub["id"]
    )
    slot = stage.slots[0]
    relayed = await ask(
        client, coordinator, slot, "Une question de la salle", hub_id=hub["id"], name="Awa"
    )
    assert (relayed.status_code, await relayed.get_json()) == (201, {"id": 1, "status": "pending"})
    quiet = await asked(
        client, coordinator, slot, "Une autre", hub_id=hub["id"], name="Yao", anonymous=True
    )
    refused = await ask(client, coordinator, slot, hub_id=other_hub["id"])
    assert refused.status_code == 403
    not_a_hub = await ask(client, organiser, slot, hub_id=stage.event_id)
    assert (not_a_hub.status_code, (await not_a_hub.get_json())["field"]) == (422, "hub_id")
    await moderated(client, stage.moderator, 1, "approve")
    await moderated(client, stage.moderator, quiet, "approve")
    public = {q["id"]: (q["hub"], q["asker"]) for q in (await listing(client, slot))["questions"]}
    assert public == {1: ("Hub IGF Cotonou", "Awa"), quiet: ("Hub IGF Cotonou", None)}
    log = await (
        await client.get(f"/api/v1/slots/{slot}/moderation", headers=organiser.headers)
    ).get_json()
    assert [(a["action"], a["by"], a["details"]) for a in log["actions"][:2]] == [
        ("relay", "coord@example.org", {"hub_id": hub["id"]}),
        ("relay", "coord@example.org", {"hub_id": hub["id"]}),
    ]
