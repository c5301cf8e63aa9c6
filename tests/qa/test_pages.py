"""The Q&A pages, in French and English, with plain forms: the attendee's page, the moderator's
console, the presenter's and projector's views, the hub coordinator's relay page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import event as sa_event

from internet10.db import Database
from internet10.models import Role
from tests.api.test_events import HUB, create
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff, make_staff
from tests.qa.conftest import PASSWORD, START, Stage, asked, attend, moderated, vote

pytestmark = pytest.mark.integration


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def page(https: HTTPSClient, path: str, status: int = 200) -> str:
    response = await https.get(path)
    html = str(await response.get_data(as_text=True))
    assert response.status_code == status, html[:500]
    return html


async def sign_in(https: HTTPSClient, email: str) -> str:
    token = csrf_from(await page(https, "/login"))
    response = await https.post(
        "/login", form={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return token


@pytest.fixture
def https(client: Client) -> HTTPSClient:
    return HTTPSClient(client)


async def test_attendees_ask_and_vote_with_forms(
    https: HTTPSClient, client: Client, stage: Stage, database: Database
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    personal = await page(https, f"/me/{ama.token}?lang=en")
    assert f'<a href="/me/{ama.token}/qa" rel="noreferrer">Questions and answers</a>' in personal
    html = await page(https, f"/me/{ama.token}/qa")
    assert "<h1>Questions — Internet10 2026</h1>" in html
    assert '<p data-qa-open="true">Questions are open.</p>' in html
    assert (
        f'data-live-url="/api/v1/events/{stage.event_id}/live" data-qa-slot="{stage.slots[0]}"'
        in html
    )
    sent = await https.post(
        f"/me/{ama.token}/qa/{stage.slots[0]}/questions",
        form={
            "text": "Comment rejoindre le projet ?",
            "language": "fr",
            "anonymous": "yes",
            "csrf_token": csrf_from(html),
        },
    )
    assert sent.status_code == 302
    assert sent.headers["Location"] == f"/me/{ama.token}/qa?slot={stage.slots[0]}&done=asked"
    after = await page(https, sent.headers["Location"])
    assert "Thank you: your question is waiting for a moderator." in after
    assert re.search(
        r'<li data-mine="1" data-status="pending"><p class="q-text" lang="fr">'
        r"Comment rejoindre le projet \?</p>\s*"
        r'<p class="q-meta">Waiting for a moderator · asked anonymously</p></li>',
        after,
    )
    await moderated(client, stage.moderator, 1, "approve")
    fr = await page(https, f"/me/{ama.token}/qa?lang=fr")
    assert "Comment rejoindre le projet ?" in fr
    assert "Anonyme" in fr
    assert "Votes : 0" in fr
    voted = await https.post(
        f"/me/{ama.token}/qa/questions/1/vote",
        form={"vote": "up", "slot": str(stage.slots[0]), "csrf_token": csrf_from(fr)},
    )
    assert voted.headers["Location"] == f"/me/{ama.token}/qa?slot={stage.slots[0]}&done=voted#q1"
    counted = await page(https, voted.headers["Location"].split("#")[0])
    assert "Votre vote est compté." in counted
    assert 'name="vote" value="withdraw"' in counted
    assert "Votes : 1" in counted
    assert (await https.get(f"/me/{ama.token}/qa")).headers["Cache-Control"] == "private, no-store"


async def test_the_attendee_page_explains_refusals_and_keeps_the_text(
    https: HTTPSClient, stage: Stage, database: Database, clock: Clock
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    html = await page(https, f"/me/{ama.token}/qa?lang=en")
    bad = await https.post(
        f"/me/{ama.token}/qa/{stage.slots[0]}/questions",
        form={"text": "<script>x</script>", "language": "fr", "csrf_token": csrf_from(html)},
    )
    body = await bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert (
        '<span class="error" role="alert" data-field="text">Write your question in 1 to 500 '
        "characters of plain text (no HTML).</span>"
    ) in body
    assert "&lt;script&gt;x&lt;/script&gt;</textarea>" in body
    assert "<script>x" not in body
    clock.now = START + dt.timedelta(minutes=38)
    late = await https.post(
        f"/me/{ama.token}/qa/{stage.slots[0]}/questions",
        form={"text": "Trop tard ?", "language": "fr", "csrf_token": csrf_from(html)},
    )
    assert late.status_code == 409
    assert 'data-error="closed">Questions are closed for this slot.</p>' in await late.get_data(
        as_text=True
    )
    assert (await https.get("/me/not-a-token/qa")).status_code == 404
    assert (await https.get(f"/me/{ama.token}/qa?slot=999999")).status_code == 404


async def test_the_console_moderates_with_forms(
    https: HTTPSClient, client: Client, stage: Stage, database: Database
) -> None:
    ama = await attend(database, stage.event_id, "Ama Secret", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Question à modérer ?", anonymous=True)
    await sign_in(https, stage.moderator.email)
    console = await page(https, f"/moderator/events/{stage.event_id}?lang=en")
    assert '<td data-qa="open"><strong>Open</strong>' in console
    assert "1 pending, 0 approved" in console
    assert "<h3>Waiting for moderation (1)</h3>" in console
    assert "Ama Secret <strong>(anonymous: only moderators see this name)</strong>" in console
    approved = await https.post(
        f"/moderator/questions/{q}/moderation",
        form={"action": "approve", "csrf_token": csrf_from(console)},
    )
    assert approved.headers["Location"] == (
        f"/moderator/events/{stage.event_id}?slot={stage.slots[0]}&done=approve&q={q}#qa"
    )
    after = await page(https, approved.headers["Location"].split("#")[0] + "&lang=fr")
    assert '<p class="notice" role="status" data-done="approve">Question approuvée.</p>' in after
    assert f'<li id="q{q}" data-question="{q}" data-status="approved">' in after
    failed = await https.post(
        f"/moderator/questions/{q}/moderation",
        form={"action": "merge", "csrf_token": csrf_from(console)},
    )
    assert "error=VALIDATION_ERROR" in failed.headers["Location"]
    edited = await https.post(
        f"/moderator/questions/{q}/moderation",
        form={
            "action": "edit",
            "text": "Question modérée ?",
            "language": "fr",
            "csrf_token": csrf_from(console),
        },
    )
    assert "done=edit" in edited.headers["Location"]
    closed = await https.post(
        f"/moderator/slots/{stage.slots[0]}/qa",
        form={"open": "no", "csrf_token": csrf_from(console)},
    )
    final = await page(https, closed.headers["Location"].split("#")[0] + "&lang=en")
    assert "Questions closed." in final
    assert '<td data-qa="closed">Closed' in final
    assert "Original: Question à modérer ?" in final
    started = await https.post(
        f"/moderator/slots/{stage.slots[0]}/live",
        form={"action": "start", "csrf_token": csrf_from(console)},
    )
    assert "Slot started." in await page(https, started.headers["Location"] + "&lang=en")


async def test_presenter_view_shows_the_question_on_air_and_the_time_left(
    https: HTTPSClient,
    client: Client,
    stage: Stage,
    database: Database,
    clock: Clock,
    organiser: Staff,
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    current = await asked(client, ama, stage.slots[0], "Question à l'antenne ?")
    queued = await asked(client, ama, stage.slots[0], "Question suivante ?")
    await moderated(client, stage.moderator, current, "on_air")
    await moderated(client, stage.moderator, queued, "approve")
    clock.now = START + dt.timedelta(minutes=30)
    html = await page(https, f"/events/{stage.event_id}/qa/presenter?lang=en")
    assert '<noscript><meta http-equiv="refresh" content="20"></noscript>' in html
    assert 'data-minutes-left="8">Time left: 8 min</p>' in html
    assert (
        f'<blockquote class="q-text big" lang="fr" data-question="{current}">'
        "Question à l&#39;antenne ?</blockquote>"
    ) in html
    assert f'<li data-question="{queued}">' in html
    assert "<form" not in html.split("</header>")[1]
    await client.post(
        f"/api/v1/slots/{stage.slots[0]}/live", json={"action": "start"}, headers=organiser.headers
    )
    clock.now = START + dt.timedelta(minutes=55)
    over = await page(https, f"/events/{stage.event_id}/qa/presenter?lang=fr&slot={stage.slots[0]}")
    assert 'data-minutes-left="-2">Dépassement : 2 min</p>' in over


async def test_projector_view_is_large_text_without_controls(
    https: HTTPSClient, client: Client, stage: Stage, database: Database
) -> None:
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    q = await asked(client, ama, stage.slots[0], "Une grande question ?")
    empty = await page(https, f"/events/{stage.event_id}/qa/projector?lang=en")
    assert "Questions are open: ask yours" in empty
    await moderated(client, stage.moderator, q, "on_air")
    html = await page(https, f"/events/{stage.event_id}/qa/projector?lang=fr")
    assert '<body class="projector"' in html
    assert '<p class="on-air-label">À l’antenne</p>' in html
    assert (
        f'<blockquote class="q-text" lang="fr" data-question="{q}">'
        "Une grande question ?</blockquote>" in html
    )
    assert "<form" not in html
    assert html.count("<nav") == 1  # the language switch, in the footer, and nothing else
    assert '<footer><nav aria-label="Langue" class="lang">' in html
    assert "<button" not in html


async def test_hub_coordinators_relay_with_a_form(
    https: HTTPSClient, client: Client, stage: Stage, database: Database, organiser: Staff
) -> None:
    hub = await create(client, organiser, HUB)
    await client.post(f"/api/v1/events/{hub['id']}/publish", headers=organiser.headers)
    coordinator = await make_staff(
        database,
        "coord@example.org",
        Role.HUB_COORDINATOR,
        now=START,
        event_id=hub["id"],
        password=PASSWORD,
    )
    assert (await https.get(f"/hubs/{hub['id']}/qa")).status_code == 302
    await sign_in(https, coordinator.email)
    html = await page(https, f"/hubs/{hub['id']}/qa?lang=en")
    assert f'<section class="relay" data-qa-slot="{stage.slots[0]}">' in html
    sent = await https.post(
        f"/hubs/{hub['id']}/qa/{stage.slots[0]}",
        form={"text": "", "language": "fr", "csrf_token": csrf_from(html)},
    )
    assert sent.status_code == 422
    assert 'data-field="text">Write the question' in await sent.get_data(as_text=True)
    sent = await https.post(
        f"/hubs/{hub['id']}/qa/{stage.slots[0]}",
        form={
            "text": "Question de la salle ?",
            "language": "fr",
            "name": "Awa",
            "csrf_token": csrf_from(html),
        },
    )
    assert sent.headers["Location"] == f"/hubs/{hub['id']}/qa?done=relayed"
    await moderated(client, stage.moderator, 1, "approve")
    listing: dict[str, Any] = await (
        await client.get(f"/api/v1/slots/{stage.slots[0]}/questions")
    ).get_json()
    assert [(q["text"], q["hub"], q["asker"]) for q in listing["questions"]] == [
        ("Question de la salle ?", "Hub IGF Cotonou", "Awa")
    ]
    staff_home = await page(https, "/staff?lang=en")
    assert f'<a href="/hubs/{hub["id"]}/qa">Relay questions</a>' in staff_home


async def test_listing_questions_costs_the_same_statements_for_one_or_many(
    client: Client, stage: Stage, database: Database
) -> None:
    people = [
        await attend(database, stage.event_id, f"P{i}", f"p{i}@example.org") for i in range(3)
    ]

    async def statements_for_listing() -> int:
        count = 0

        def counting(*_args: Any) -> None:
            nonlocal count
            count += 1

        engine = database.engine.sync_engine
        sa_event.listen(engine, "before_cursor_execute", counting)
        try:
            response = await client.get(
                f"/api/v1/slots/{stage.slots[0]}/questions", headers=people[0].headers
            )
            assert response.status_code == 200
        finally:
            sa_event.remove(engine, "before_cursor_execute", counting)
        return count

    first = await asked(client, people[0], stage.slots[0], "Une ?")
    await moderated(client, stage.moderator, first, "approve")
    await vote(client, people[1], first)
    one = await statements_for_listing()
    for i, person in enumerate(people[1:]):
        q = await asked(client, person, stage.slots[0], f"Encore {i} ?")
        await moderated(client, stage.moderator, q, "approve")
        await vote(client, people[0], q)
    assert await statements_for_listing() == one
