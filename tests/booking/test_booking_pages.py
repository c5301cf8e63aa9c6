"""The delegate's booking page in French and English: local times, forms with CSRF, actions."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Chapter, Role, Slot
from tests.booking.test_booking_api import BOOKING, add_chapters, book, delegate, new_event
from tests.booking.test_booking_api import slots_of as api_slots
from tests.conftest import HTTPSClient, Staff, make_staff
from tests.pages.test_pages import csrf_from

pytestmark = pytest.mark.integration

PASSWORD = "delegate password 1234"


async def sign_in(https: HTTPSClient, email: str, password: str = PASSWORD) -> None:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302


@dataclass(frozen=True)
class Desk:
    event_id: int
    slots: list[int]
    india: Staff  # signed in on the https client
    benin: Staff  # has a password: signs in on a second client
    organiser: Staff

    @property
    def page(self) -> str:
        return f"/delegate/events/{self.event_id}"


@pytest.fixture
async def desk(
    client: Client, https: HTTPSClient, organiser: Staff, database: Database, now: dt.datetime
) -> Desk:
    await add_chapters(database, now, 4)  # BJ, SN, KE, IN (Asia/Kolkata, UTC+5:30)
    event = await new_event(client, organiser)
    india = await delegate(database, now, "IN", password=PASSWORD)
    await sign_in(https, india.email)
    return Desk(
        event_id=event["id"],
        slots=[s["id"] for s in await api_slots(client, event["id"])],
        india=india,
        benin=await delegate(database, now, "BJ", password=PASSWORD),
        organiser=organiser,
    )


async def page(https: HTTPSClient, path: str) -> str:
    response = await https.get(path)
    assert response.status_code == 200, await response.get_data(as_text=True)
    html: str = await response.get_data(as_text=True)
    return html


def row(html: str, slot_id: int) -> str:
    match = re.search(rf'<tr id="slot-{slot_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"slot {slot_id} is listed"
    return re.sub(r"[ \t\r\n]+", " ", match.group(1)).strip()


def booking_form(token: str, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "chapter": "IN",
        "title": "Inclusion numérique en Inde",
        "abstract": "Deux lignes\r\nde résumé.",
        "language": "fr",
        "speaker_name_1": "Priya Sharma",
        "speaker_email_1": "priya@example.org",
        "speaker_name_2": "",
        "speaker_email_2": "",
        "speaker_name_3": "",
        "speaker_email_3": "",
        "slides_url": "",
    } | changes


async def slot_row(database: Database, slot_id: int) -> Slot:
    async with database.read() as db:
        slot = await db.get(Slot, slot_id)
        assert slot is not None
        return slot


async def test_page_shows_times_in_the_chapter_zone_and_the_event_zone_in_french(
    https: HTTPSClient, desk: Desk
) -> None:
    html = await page(https, f"{desk.page}?lang=fr")
    assert '<html lang="fr">' in html
    assert "samedi 19 décembre 2026" in html
    assert "Vous réservez pour ISOC India Delhi." in html
    first = row(html, desk.slots[0])
    # 12:15–12:38 UTC: 17:45 in Kolkata (UTC+5:30), 13:15 in Porto-Novo (UTC+1)
    assert first == (
        "<td>1</td> <td>17:45 – 18:08</td> <td>13:15 – 13:38</td>"
        " <td></td> <td></td> <td>Libre</td>"
    )
    assert "Votre heure (Asia/Kolkata)" in html
    assert "Heure de l’événement (Africa/Porto-Novo)" in html


async def test_page_shows_times_in_the_chapter_zone_and_the_event_zone_in_english(
    https: HTTPSClient, desk: Desk
) -> None:
    html = await page(https, f"{desk.page}?lang=en")
    assert '<html lang="en">' in html
    assert "Saturday, December 19, 2026" in html
    assert "You are booking for ISOC India Delhi." in html
    first = row(html, desk.slots[0])
    assert first == (
        "<td>1</td> <td>5:45\u202fPM – 6:08\u202fPM</td> <td>1:15\u202fPM – 1:38\u202fPM</td>"
        " <td></td> <td></td> <td>Open</td>"
    )
    assert html.count('name="csrf_token"') >= 10  # one booking form per open slot


async def test_booking_through_the_form(https: HTTPSClient, desk: Desk, database: Database) -> None:
    token = csrf_from(await page(https, desk.page))
    response = await https.post(f"{desk.page}/slots/{desk.slots[2]}/book", form=booking_form(token))
    assert response.status_code == 302
    assert response.headers["Location"] == f"{desk.page}?done=booked&chapter=IN"
    slot = await slot_row(database, desk.slots[2])
    assert (slot.title, slot.abstract, slot.language, slot.speakers, slot.slides_url) == (
        "Inclusion numérique en Inde",
        "Deux lignes\nde résumé.",
        "fr",
        [{"name": "Priya Sharma", "email": "priya@example.org"}],
        None,
    )
    fr = await page(https, f"{desk.page}?done=booked&chapter=IN&lang=fr")
    assert '<p class="notice" role="status" data-done="booked">Votre créneau est réservé.</p>' in fr
    assert "Votre créneau : numéro 3" in fr
    assert "Inclusion numérique en Inde" in row(fr, desk.slots[2])
    en = await page(https, f"{desk.page}?done=booked&lang=en")
    assert '<p class="notice" role="status" data-done="booked">Your slot is booked.</p>' in en


async def test_form_without_csrf_token_is_refused(
    https: HTTPSClient, desk: Desk, database: Database
) -> None:
    form = booking_form("forged")
    response = await https.post(f"{desk.page}/slots/{desk.slots[0]}/book", form=form)
    assert response.status_code == 400
    assert (await slot_row(database, desk.slots[0])).chapter_id is None


async def test_bad_form_input_shows_the_page_again_naming_the_field(
    https: HTTPSClient, desk: Desk, database: Database
) -> None:
    token = csrf_from(await page(https, desk.page))
    form = booking_form(token, speaker_email_1="priya-at-example")
    response = await https.post(f"{desk.page}/slots/{desk.slots[0]}/book?lang=en", form=form)
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert "Please check this field: E-mail of speaker 1." in html
    assert 'value="priya-at-example"' in html  # what was typed is kept
    assert "<details open>" in html
    assert (await slot_row(database, desk.slots[0])).chapter_id is None


async def test_a_slot_taken_meanwhile_is_explained(
    client: Client, https: HTTPSClient, desk: Desk
) -> None:
    token = csrf_from(await page(https, desk.page))
    assert (await book(client, desk.benin, desk.slots[0])).status_code == 201
    response = await https.post(
        f"{desk.page}/slots/{desk.slots[0]}/book?lang=fr", form=booking_form(token)
    )
    assert response.status_code == 409
    html = await response.get_data(as_text=True)
    assert "Un autre chapitre vient de réserver ce créneau." in html


async def test_edit_and_cancel_through_the_forms(
    client: Client, https: HTTPSClient, desk: Desk, database: Database
) -> None:
    token = csrf_from(await page(https, desk.page))
    await https.post(f"{desk.page}/slots/{desk.slots[0]}/book", form=booking_form(token))
    html = await page(https, f"{desk.page}?lang=en")
    assert 'value="Inclusion numérique en Inde"' in html  # the edit form is filled in
    edited = await https.post(
        f"{desk.page}/slots/{desk.slots[0]}/edit",
        form=booking_form(
            token,
            title="Digital inclusion in India",
            language="en",
            slides_url="https://s.example.org/in",
        ),
    )
    assert edited.headers["Location"] == f"{desk.page}?done=updated&chapter=IN"
    slot = await slot_row(database, desk.slots[0])
    assert (slot.title, slot.language, slot.slides_url) == (
        "Digital inclusion in India",
        "en",
        "https://s.example.org/in",
    )
    cancelled = await https.post(
        f"{desk.page}/slots/{desk.slots[0]}/cancel", form={"csrf_token": token, "chapter": "IN"}
    )
    assert cancelled.headers["Location"] == f"{desk.page}?done=cancelled&chapter=IN"
    assert (await slot_row(database, desk.slots[0])).chapter_id is None
    fr = await page(https, f"{desk.page}?done=cancelled&lang=fr")
    assert "Votre réservation est annulée ; le créneau est de nouveau libre." in fr


async def test_a_booking_awaiting_approval_says_so(
    client: Client, https: HTTPSClient, desk: Desk
) -> None:
    response = await client.patch(
        f"/api/v1/events/{desk.event_id}",
        json={"bookings_need_approval": True},
        headers=desk.organiser.headers,
    )
    assert response.status_code == 200
    token = csrf_from(await page(https, desk.page))
    booked = await https.post(f"{desk.page}/slots/{desk.slots[0]}/book", form=booking_form(token))
    assert booked.headers["Location"] == f"{desk.page}?done=pending&chapter=IN"
    fr = await page(https, f"{desk.page}?done=pending&lang=fr")
    assert "Votre réservation est enregistrée et attend la validation des organisateurs." in fr
    assert row(fr, desk.slots[0]).endswith("<td>En attente de validation</td>")


async def test_a_chapter_in_the_events_zone_sees_one_time(https: HTTPSClient, desk: Desk) -> None:
    await sign_in(https, desk.benin.email)
    html = await page(https, f"{desk.page}?lang=en")
    assert (
        "Times are shown in the event's time zone (Africa/Porto-Novo), which is also your"
        " chapter's." in html
    )
    assert "Your time" not in html
    assert row(html, desk.slots[0]) == (
        "<td>1</td> <td>1:15\u202fPM – 1:38\u202fPM</td> <td></td> <td></td> <td>Open</td>"
    )


async def test_a_chapter_across_midnight_sees_its_date(
    https: HTTPSClient, desk: Desk, database: Database, now: dt.datetime
) -> None:
    async with database.write() as db:
        db.add(
            Chapter(
                code="NZ",
                name="ISOC New Zealand",
                country="NZ",
                timezone="Pacific/Auckland",
                languages=["en"],
                created_at=now,
            )
        )
    nz = await delegate(database, now, "NZ", password=PASSWORD)
    await sign_in(https, nz.email)
    fr = await page(https, f"{desk.page}?lang=fr")
    # 12:15 UTC on 19 December is 01:15 on 20 December in Auckland (UTC+13 in summer)
    assert row(fr, desk.slots[0]) == (
        "<td>1</td> <td>20 déc. 2026 01:15 – 01:38</td> <td>13:15 – 13:38</td>"
        " <td></td> <td></td> <td>Libre</td>"
    )


async def test_swap_proposed_and_accepted_through_the_forms(
    app: Quart, client: Client, https: HTTPSClient, desk: Desk, database: Database
) -> None:
    assert (await book(client, desk.benin, desk.slots[1])).status_code == 201
    token = csrf_from(await page(https, desk.page))
    await https.post(f"{desk.page}/slots/{desk.slots[4]}/book", form=booking_form(token))
    proposed = await https.post(
        f"{desk.page}/slots/{desk.slots[4]}/swap",
        form={"csrf_token": token, "chapter": "IN", "to_slot_id": str(desk.slots[1])},
    )
    assert proposed.headers["Location"] == f"{desk.page}?done=swap-proposed&chapter=IN"
    html = await page(https, f"{desk.page}?lang=en")
    assert "You proposed to ISOC Benin to exchange your slot 5 for its slot 2." in html
    swaps = await client.get(f"/api/v1/events/{desk.event_id}/swaps", headers=desk.benin.headers)
    swap_id = (await swaps.get_json())["swaps"][0]["id"]

    # Benin's delegate signs in on a second client and accepts on the page.
    benin = HTTPSClient(app.test_client())
    await sign_in(benin, desk.benin.email)
    benin_page = await page(benin, f"{desk.page}?lang=fr")
    assert "ISOC India Delhi propose d’échanger son créneau 5 contre votre créneau 2." in benin_page
    token_bj = csrf_from(benin_page)
    accepted = await benin.post(
        f"{desk.page}/swaps/{swap_id}/accept", form={"csrf_token": token_bj, "chapter": "BJ"}
    )
    assert accepted.headers["Location"] == f"{desk.page}?done=swap-accepted&chapter=BJ"
    assert (await slot_row(database, desk.slots[1])).title == "Inclusion numérique en Inde"
    assert (await slot_row(database, desk.slots[4])).title == BOOKING["title"]


async def test_a_delegate_cannot_cancel_another_chapters_booking_through_the_form(
    client: Client, https: HTTPSClient, desk: Desk, database: Database
) -> None:
    assert (await book(client, desk.benin, desk.slots[0])).status_code == 201
    token = csrf_from(await page(https, desk.page))
    response = await https.post(
        f"{desk.page}/slots/{desk.slots[0]}/cancel?lang=en", form={"csrf_token": token}
    )
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in await response.get_data(as_text=True)
    assert (await slot_row(database, desk.slots[0])).title == BOOKING["title"]


async def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = await client.get("/delegate/events/1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


async def test_staff_without_a_chapter_get_a_403_page(
    client: Client, https: HTTPSClient, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await new_event(client, organiser)
    await make_staff(
        database,
        "mod@example.org",
        Role.MODERATOR,
        now=now,
        event_id=event["id"],
        password=PASSWORD,
    )
    await sign_in(https, "mod@example.org")
    response = await https.get(f"/delegate/events/{event['id']}?lang=fr")
    assert response.status_code == 403
    assert "<h1>Accès refusé</h1>" in await response.get_data(as_text=True)


async def test_organisers_choose_the_chapter_they_act_for(
    https: HTTPSClient, desk: Desk, database: Database
) -> None:
    await sign_in(https, desk.organiser.email, "correct horse battery staple")
    html = await page(https, f"{desk.page}?lang=en")
    assert "You are booking for" not in html
    assert f'href="{desk.page}?chapter=BJ"' in html
    html = await page(https, f"{desk.page}?chapter=BJ&lang=en")
    assert "You are booking for ISOC Benin." in html
    token = csrf_from(html)
    response = await https.post(
        f"{desk.page}/slots/{desk.slots[0]}/book", form=booking_form(token, chapter="BJ")
    )
    assert response.headers["Location"] == f"{desk.page}?done=booked&chapter=BJ"
    slot: Any = await slot_row(database, desk.slots[0])
    assert slot.booked_by_user_id == desk.organiser.user_id
