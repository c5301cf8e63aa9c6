"""The organiser's planning page, in French and English, and applying a proposal by form."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Role
from tests.api.test_events import HUB, I10, create
from tests.conftest import HTTPSClient, Staff, make_staff
from tests.pages.test_pages import csrf_from
from tests.planning.test_plan_cli import CHAPTERS
from tests.planning.test_planning_api import WIDE, add_chapters, book, running_order

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


async def sign_in(https: HTTPSClient, email: str, password: str = PASSWORD) -> None:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302


def section(html: str, rank: int) -> str:
    match = re.search(
        rf'<section class="proposal" id="proposal-{rank}">(.*?)</section>', html, re.S
    )
    assert match, f"proposal {rank} is on the page"
    return match.group(1)


def apply_form(html: str, rank: int) -> list[tuple[str, str]]:
    """The hidden fields of proposal ``rank``'s "Apply this proposal" form, in order."""
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', section(html, rank))


async def post_form(https: HTTPSClient, path: str, fields: list[tuple[str, str]]) -> Any:
    """POST a form whose fields repeat (``order``), as a browser sends it."""
    return await https.post(
        path,
        data=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@pytest.fixture
async def event_id(client: Client, organiser: Staff, database: Database, now: dt.datetime) -> int:
    await add_chapters(database, now, CHAPTERS)
    event = await create(client, organiser, I10)
    return int(event["id"])


async def test_planning_page_sends_anonymous_to_sign_in(client: Client, event_id: int) -> None:
    response = await client.get(f"/organiser/events/{event_id}/planning")
    assert (response.status_code, response.headers["Location"]) == (302, "/login")


async def test_planning_page_is_forbidden_to_a_delegate(
    https: HTTPSClient, database: Database, now: dt.datetime, event_id: int
) -> None:
    await make_staff(
        database, "d@example.org", Role.DELEGATE, now=now, password=PASSWORD, chapter_code="BJ"
    )
    await sign_in(https, "d@example.org")
    response = await https.get(f"/organiser/events/{event_id}/planning?lang=en")
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in await response.get_data(as_text=True)


async def test_planning_page_shows_proposals_in_french(
    https: HTTPSClient, organiser: Staff, event_id: int
) -> None:
    await sign_in(https, organiser.email)
    response = await https.get(f"/organiser/events/{event_id}/planning?date=2026-12-05&lang=fr")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert "<h1>Planification : Internet10 2026</h1>" in html
    best = section(html, 1)
    assert (
        "<h2>Proposition 1 : samedi 5 décembre 2026, 16:00 – 20:30 (Africa/Porto-Novo)</h2>" in best
    )
    assert (
        "<li>ISOC Nepal (NP) ne peut pas être servi : son créneau déborde de 23 minutes"
        " de ses heures acceptables.</li>" in best
    )
    cells = (
        r"<tr><td>(\d+)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(\d+)</td>"
    )
    rows = re.findall(cells, best)
    assert rows == [
        ("1", "ISOC Benin (BJ)", "16:15 – 16:38", "sam. 5 déc. 16:15 – 16:38 (UTC+01:00)", "0"),
        ("2", "ISOC Nepal (NP)", "16:38 – 17:01", "sam. 5 déc. 21:23 – 21:46 (UTC+05:45)", "23"),
        ("3", "ISOC New York (US)", "17:01 – 17:24", "sam. 5 déc. 11:01 – 11:24 (UTC-05:00)", "0"),
    ]
    assert "Appliquer cette proposition" in best
    assert "<h2>Proposition 3 : samedi 5 décembre 2026, 16:30 – 21:00" in section(html, 3)
    assert 'id="proposal-4"' not in html


async def test_planning_page_shows_proposals_in_english(
    https: HTTPSClient, organiser: Staff, event_id: int
) -> None:
    await sign_in(https, organiser.email)
    response = await https.get(f"/organiser/events/{event_id}/planning?date=2026-12-05&lang=en")
    html = await response.get_data(as_text=True)
    best = section(html, 1)
    assert (
        "<h2>Proposal 1: Saturday, December 5, 2026, 4:00\u202fPM – 8:30\u202fPM"
        " (Africa/Porto-Novo)</h2>" in best
    )
    assert (
        "<li>ISOC Nepal (NP) cannot be served: its slot is 23 minutes outside its acceptable"
        " hours.</li>" in best
    )
    assert "<td>Sat 5 Dec 9:23\u202fPM – 9:46\u202fPM (UTC+05:45)</td>" in best
    assert '<button type="submit">Apply this proposal</button>' in best


async def test_planning_page_says_when_everyone_is_served(
    https: HTTPSClient, organiser: Staff, client: Client, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, WIDE)
    event = await create(client, organiser, I10)
    await sign_in(https, organiser.email)
    html = await (await https.get(f"/organiser/events/{event['id']}/planning?lang=en")).get_data(
        as_text=True
    )
    assert '<p class="served">Every chapter presents within its acceptable hours.</p>' in section(
        html, 1
    )


async def test_applying_a_proposal_by_form_sets_start_and_order(
    https: HTTPSClient, organiser: Staff, client: Client, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, WIDE)
    event = await create(client, organiser, I10)
    await sign_in(https, organiser.email)
    path = f"/organiser/events/{event['id']}/planning"
    html = await (await https.get(f"{path}?date=2026-12-19&lang=fr")).get_data(as_text=True)
    fields = apply_form(html, 1)
    order = [value for name, value in fields if name == "order"]
    assert order == ["BJ", "NP", *[""] * 6, "US"]
    assert ("starts_at", "2026-12-19T10:45:00+00:00") in fields

    response = await post_form(https, f"{path}/apply", fields)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{path}?date=2026-12-19&applied=1"
    slots = await running_order(database, event["id"])
    assert [(position, code) for position, _, code in slots if code] == [
        (1, "BJ"),
        (2, "NP"),
        (9, "US"),
    ]
    assert slots[0][1] == "2026-12-19T11:00:00Z"

    confirmed = await (await https.get(response.headers["Location"] + "&lang=fr")).get_data(
        as_text=True
    )
    assert (
        '<p class="notice" role="status" id="applied">Proposition appliquée : l’événement'
        " commence désormais le samedi 19 décembre 2026 à 11:45 (Africa/Porto-Novo) et ses"
        " créneaux suivent l’ordre proposé.</p>" in confirmed
    )
    english = await (await https.get(response.headers["Location"] + "&lang=en")).get_data(
        as_text=True
    )
    assert (
        "Proposal applied: the event now starts on Saturday, December 19, 2026 at"
        " 11:45\u202fAM (Africa/Porto-Novo) and its slots follow the proposed order." in english
    )


async def test_apply_form_needs_its_csrf_token(
    https: HTTPSClient, organiser: Staff, event_id: int, database: Database
) -> None:
    await sign_in(https, organiser.email)
    path = f"/organiser/events/{event_id}/planning"
    html = await (await https.get(f"{path}?date=2026-12-05")).get_data(as_text=True)
    fields = [(name, value) for name, value in apply_form(html, 1) if name != "csrf_token"]
    response = await post_form(https, f"{path}/apply", fields)
    assert response.status_code == 400
    assert [code for _, _, code in await running_order(database, event_id)] == [None] * 10


async def test_apply_form_over_booked_slots_explains_and_force_moves_them(
    https: HTTPSClient, organiser: Staff, event_id: int, database: Database
) -> None:
    await book(database, event_id, 1, "US")
    await sign_in(https, organiser.email)
    path = f"/organiser/events/{event_id}/planning"
    html = await (await https.get(f"{path}?date=2026-12-05&lang=fr")).get_data(as_text=True)
    fields = apply_form(html, 1)

    refused = await post_form(https, f"{path}/apply", fields)
    assert refused.status_code == 409
    page = await refused.get_data(as_text=True)
    assert (
        '<p class="error" role="alert" id="apply-error" data-code="SLOTS_BOOKED">Certains'
        " créneaux sont déjà réservés par d’autres chapitres." in page
    )
    assert 'id="proposal-1"' in page  # the proposals stay on the page

    forced = await post_form(https, f"{path}/apply", [*fields, ("force", "1")])
    assert forced.status_code == 302
    assert [code for _, _, code in await running_order(database, event_id)][:3] == [
        "BJ",
        "NP",
        "US",
    ]


@pytest.mark.parametrize(
    ("date", "code", "message"),
    [
        (
            "2026-02-30",
            "INVALID_DATE",
            "Saisissez une date au format AAAA-MM-JJ, entre 2000 et 2100.",
        ),
        (
            "2026-11-01",
            "DATE_IN_PAST",
            "Cette date est passée. Choisissez aujourd’hui ou une date ultérieure.",
        ),
    ],
)
async def test_planning_page_bad_date_is_explained(
    https: HTTPSClient, organiser: Staff, event_id: int, date: str, code: str, message: str
) -> None:
    await sign_in(https, organiser.email)
    response = await https.get(f"/organiser/events/{event_id}/planning?date={date}&lang=fr")
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert f'<p class="error" role="alert" id="plan-error" data-code="{code}">{message}</p>' in html
    assert 'id="proposal-1"' not in html


async def test_planning_page_for_a_hub_is_409(
    https: HTTPSClient, organiser: Staff, client: Client
) -> None:
    hub = await create(client, organiser, HUB)
    await sign_in(https, organiser.email)
    response = await https.get(f"/organiser/events/{hub['id']}/planning")
    assert response.status_code == 409
