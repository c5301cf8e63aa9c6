"""The attendee's pages: register without JavaScript, the personal page, its calendar, Join and
cancel."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select, update

from internet10.app import create_app
from internet10.db import Database
from internet10.models import Job, Registration
from internet10.services.checkin import followable
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import HUB, I10
from tests.attendee.conftest import csrf_from, enrol, published, token_of
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff

pytestmark = pytest.mark.integration

FORM = {
    "name": "Adjoa Mensah",
    "email": "adjoa@example.org",
    "country": "BJ",
    "language": "fr",
}


async def _form_token(https: HTTPSClient, event_id: int, lang: str = "fr") -> tuple[str, str]:
    page = await https.get(f"/events/{event_id}/register?lang={lang}")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    return html, csrf_from(html)


async def _statuses(database: Database) -> list[tuple[str, str]]:
    async with database.read() as db:
        rows = await db.execute(
            select(Registration.email, Registration.status).order_by(Registration.id)
        )
        return [(email, status) for email, status in rows]


async def test_register_form_in_french_names_the_wrong_fields_then_confirms(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database
) -> None:
    hub = await published(client, organiser, HUB)
    html, token = await _form_token(https, hub)
    assert '<label for="reg-name">Nom complet</label>' in html
    assert '<label for="reg-country">Pays</label>' in html
    assert '<option value="BJ">Bénin</option>' in html
    assert 'value="in_person"' in html  # a hub with seats offers a seat in the room
    assert "<script" not in html
    assert f'<form method="post" action="/events/{hub}/register">' in html

    wrong = await https.post(
        f"/events/{hub}/register",
        form=FORM | {"name": "  ", "country": "XX", "csrf_token": token},
    )
    assert wrong.status_code == 422
    page = await wrong.get_data(as_text=True)
    assert re.findall(r'<p data-field="(\w+)">([^<]*)</p>', page) == [
        ("name", "Vérifiez ce champ : Nom complet."),
        ("country", "Vérifiez ce champ : Pays."),
    ]
    assert 'value="adjoa@example.org"' in page  # what was typed is kept
    assert await _statuses(database) == []

    done = await https.post(
        f"/events/{hub}/register", form=FORM | {"mode": "in_person", "csrf_token": token}
    )
    assert done.status_code == 302
    token_of(done.headers["Location"])  # /me/<token>?done=registered
    personal = await https.get(done.headers["Location"] + "&lang=fr")
    body = await personal.get_data(as_text=True)
    assert '<dd data-status="confirmed"><strong>Confirmé</strong></dd>' in body
    assert 'data-done="registered"' in body
    async with database.read() as db:
        reg = await db.scalar(select(Registration))
    assert reg is not None
    assert (reg.name, reg.email, reg.country, reg.language, reg.mode, reg.status) == (
        "Adjoa Mensah",
        "adjoa@example.org",
        "BJ",
        "fr",
        "in_person",
        "confirmed",
    )


async def test_register_errors_name_the_field_in_english(
    https: HTTPSClient, client: Client, organiser: Staff
) -> None:
    event = await published(client, organiser, I10)
    html, token = await _form_token(https, event, lang="en")
    assert 'value="in_person"' not in html  # the Internet10 session has no room
    wrong = await https.post(
        f"/events/{event}/register",
        form=FORM | {"email": "not-an-address", "mode": "in_person", "csrf_token": token},
    )
    assert wrong.status_code == 422
    page = await wrong.get_data(as_text=True)
    assert re.findall(r'<p data-field="(\w+)">([^<]*)</p>', page) == [
        ("email", "Please check this field: E-mail."),
        ("mode", "Please check this field: How you will attend."),
    ]


async def test_register_when_full_shows_the_waitlist_position(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10 | {"capacity": 1})
    await enrol(database, event, "Kossi", "kossi@example.org", now=now)
    await enrol(database, event, "Awa", "awa@example.org", now=now)
    _, token = await _form_token(https, event)
    done = await https.post(f"/events/{event}/register", form=FORM | {"csrf_token": token})
    personal = await https.get(done.headers["Location"] + "&lang=fr")
    body = await personal.get_data(as_text=True)
    assert (
        '<dd data-status="waitlisted"><strong>En liste d’attente, position 2</strong></dd>' in body
    )
    assert "/join/" not in body  # no Join button for the waitlist
    assert await _statuses(database) == [
        ("kossi@example.org", "confirmed"),
        ("awa@example.org", "waitlisted"),
        ("adjoa@example.org", "waitlisted"),
    ]


async def test_registering_again_mails_the_link_and_reveals_nothing_else(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10)
    await enrol(database, event, "Adjoa Mensah", "adjoa@example.org", now=now)
    _, token = await _form_token(https, event)
    again = await https.post(
        f"/events/{event}/register",
        form=FORM | {"name": "Someone Else", "email": " ADJOA@example.org ", "csrf_token": token},
    )
    assert again.status_code == 302
    assert again.headers["Location"] == f"/events/{event}/register?done=already"
    page = await (await https.get(again.headers["Location"] + "&lang=en")).get_data(as_text=True)
    assert "This e-mail address is already registered. We have e-mailed its personal link" in page
    assert "Adjoa" not in page
    assert "/me/" not in page
    assert 'method="post"' not in page
    async with database.read() as db:
        kinds = sorted(
            j.payload["kind"]
            for j in await db.scalars(select(Job))
            if j.kind == "registration.mail"
        )
    assert kinds == ["confirmed", "link"]
    assert await _statuses(database) == [("adjoa@example.org", "confirmed")]


async def test_register_on_a_cancelled_event_is_refused(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database
) -> None:
    event = await published(client, organiser, I10)
    _, token = await _form_token(https, event, lang="en")
    await client.post(f"/api/v1/events/{event}/cancel", headers=organiser.headers)
    closed = await https.get(f"/events/{event}/register?lang=en")
    assert "Registration for this event is closed." in await closed.get_data(as_text=True)
    refused = await https.post(f"/events/{event}/register", form=FORM | {"csrf_token": token})
    assert refused.status_code == 409
    assert await _statuses(database) == []


async def test_register_form_needs_its_csrf_token(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database
) -> None:
    event = await published(client, organiser, I10)
    refused = await https.post(f"/events/{event}/register", form=FORM)
    assert refused.status_code == 400
    assert await _statuses(database) == []


async def test_register_form_shares_the_api_rate_limit(
    settings: Settings, database: Database, clock: Clock, client: Client, organiser: Staff
) -> None:
    event = await published(client, organiser, I10)
    limited = create_app(
        settings.model_copy(update={"registration_rate_per_minute": 1}),
        dependencies=Dependencies(database=database, clock=clock),
    )
    async with limited.test_app():
        https = HTTPSClient(limited.test_client())
        _, token = await _form_token(https, event)
        first = await https.post(f"/events/{event}/register", form=FORM | {"csrf_token": token})
        assert first.status_code == 302
        second = await https.post(
            f"/events/{event}/register",
            form=FORM | {"email": "other@example.org", "csrf_token": token},
        )
        assert second.status_code == 429
        assert second.headers["Retry-After"].isdigit()
    assert await _statuses(database) == [("adjoa@example.org", "confirmed")]


async def test_personal_page_shows_local_times_beside_the_event_zone(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10)
    place = await enrol(database, event, "Adjoa", "adjoa@example.org", now=now)
    # Without a zone chosen or reported by the browser, the event's zone.
    same_zone = await (await https.get(f"/me/{place.access_token}?lang=fr")).get_data(as_text=True)
    assert "<caption>Heures de Africa/Porto-Novo</caption>" in same_zone
    assert "<td>13:15</td>" in same_zone
    assert "Heure de l’événement" not in same_zone
    page = await https.get(f"/me/{place.access_token}?tz=America/Toronto&lang=en")
    html = await page.get_data(as_text=True)
    # Slot 1 starts 13:15 in Porto-Novo (UTC+1), 07:15 in Toronto (UTC-5).
    assert "<caption>Times in America/Toronto</caption>" in html
    assert "<td>7:15\u202fAM</td>" in html
    assert '<th scope="col">Event time (Africa/Porto-Novo)</th>' in html
    assert "<td>1:15\u202fPM</td>" in html
    assert f'href="/join/{place.access_token}"' in html
    assert f'href="/me/{place.access_token}/calendar.ics"' in html


async def test_personal_pages_are_not_cached_nor_sent_as_referrer(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10)
    place = await enrol(database, event, "Adjoa", "adjoa@example.org", now=now)
    for path in (
        f"/me/{place.access_token}",
        f"/me/{place.access_token}/calendar.ics",
        f"/join/{place.access_token}",
        "/me/unknown-token",
    ):
        response = await https.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert response.headers["Cache-Control"] == "private, no-store", path


async def test_unknown_and_revoked_links_are_the_same_404(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    from internet10.services import registration as service

    event = await published(client, organiser, I10)
    place = await enrol(database, event, "Adjoa", "adjoa@example.org", now=now)
    async with database.write() as db:
        await service.revoke_links(db, place.registration, now=now)
    revoked = await https.get(f"/me/{place.access_token}?lang=en")
    unknown = await https.get("/me/" + "x" * 43 + "?lang=en")
    assert revoked.status_code == unknown.status_code == 404
    assert await revoked.get_data(as_text=True) == await unknown.get_data(as_text=True)
    assert (await https.get(f"/join/{place.access_token}")).status_code == 404
    assert (await https.get(f"/me/{place.access_token}/calendar.ics")).status_code == 404


async def test_personal_calendar_is_the_event_feed_with_the_holders_status(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10 | {"capacity": 1})
    first = await enrol(database, event, "Kossi", "kossi@example.org", now=now)
    second = await enrol(database, event, "Awa", "awa@example.org", now=now)
    public = await (await client.get(f"/events/{event}/calendar.ics")).get_data(as_text=True)

    confirmed = await https.get(f"/me/{first.access_token}/calendar.ics")
    assert confirmed.content_type == "text/calendar; charset=utf-8"
    text = await confirmed.get_data(as_text=True)
    assert "DESCRIPTION:Votre place est confirmée." in text
    assert text.count("BEGIN:VEVENT") == public.count("BEGIN:VEVENT") == 11
    assert "STATUS:TENTATIVE" not in text

    waiting_feed = await https.get(f"/me/{second.access_token}/calendar.ics")
    waiting = await waiting_feed.get_data(as_text=True)
    assert "DESCRIPTION:Vous êtes sur la liste d’attente (position 1)." in waiting
    assert waiting.count("STATUS:TENTATIVE") == 11


async def test_cancel_from_the_personal_page_promotes_the_next_person(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, HUB | {"capacity": 1, "seats": 0})
    first = await enrol(database, event, "Kossi", "kossi@example.org", now=now)
    await enrol(database, event, "Awa", "awa@example.org", now=now)
    await enrol(database, event, "Yao", "yao@example.org", now=now)
    page = await (await https.get(f"/me/{first.access_token}?lang=fr")).get_data(as_text=True)
    token = csrf_from(page)
    assert f'<form method="post" action="/me/{first.access_token}/cancel">' in page

    unconfirmed = await https.post(f"/me/{first.access_token}/cancel", form={"csrf_token": token})
    assert unconfirmed.status_code == 422
    assert 'data-field="confirm"' in await unconfirmed.get_data(as_text=True)
    assert await _statuses(database) == [
        ("kossi@example.org", "confirmed"),
        ("awa@example.org", "waitlisted"),
        ("yao@example.org", "waitlisted"),
    ]

    done = await https.post(
        f"/me/{first.access_token}/cancel", form={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 302
    assert done.headers["Location"] == f"/me/{first.access_token}?done=cancelled"
    after = await (await https.get(done.headers["Location"] + "&lang=fr")).get_data(as_text=True)
    assert '<dd data-status="cancelled"><strong>Annulé</strong></dd>' in after
    assert "/cancel" not in after
    assert await _statuses(database) == [
        ("kossi@example.org", "cancelled"),
        ("awa@example.org", "confirmed"),
        ("yao@example.org", "waitlisted"),
    ]


async def test_cancel_needs_the_csrf_token(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10)
    place = await enrol(database, event, "Kossi", "kossi@example.org", now=now)
    refused = await https.post(f"/me/{place.access_token}/cancel", form={"confirm": "yes"})
    assert refused.status_code == 400
    assert await _statuses(database) == [("kossi@example.org", "confirmed")]


async def test_join_records_the_first_click_and_follows_the_meeting_link(
    https: HTTPSClient,
    client: Client,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    clock: Clock,
) -> None:
    event = await published(client, organiser, I10)
    place = await enrol(database, event, "Kossi", "kossi@example.org", now=now)

    early = await https.get(f"/join/{place.access_token}?lang=en")
    assert early.status_code == 200
    assert "Your link to join will be ready before the event starts, on Saturday, December 19" in (
        await early.get_data(as_text=True)
    )

    url = "https://zoom.example/w/123?tk=abc"
    async with database.write() as db:
        await db.execute(
            update(Registration)
            .where(Registration.id == place.registration.id)
            .values(join_url=url)
        )
    clock.advance(days=21)
    joined = await https.get(f"/join/{place.access_token}")
    assert joined.status_code == 302
    assert joined.headers["Location"] == url
    async with database.read() as db:
        reg = await db.get(Registration, place.registration.id)
    assert reg is not None
    assert reg.join_clicked_at == now  # the first click is kept


async def test_waitlisted_people_cannot_join(
    https: HTTPSClient, client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published(client, organiser, I10 | {"capacity": 1})
    await enrol(database, event, "Kossi", "kossi@example.org", now=now)
    waiting = await enrol(database, event, "Awa", "awa@example.org", now=now)
    async with database.write() as db:
        await db.execute(
            update(Registration)
            .where(Registration.id == waiting.registration.id)
            .values(join_url="https://zoom.example/w/1")
        )
    refused = await https.get(f"/join/{waiting.access_token}?lang=en")
    assert refused.status_code == 409
    assert "You are on the waitlist (position 1)" in await refused.get_data(as_text=True)
    async with database.read() as db:
        reg = await db.get(Registration, waiting.registration.id)
    assert reg is not None
    assert reg.join_clicked_at is None


async def test_public_event_page_links_to_the_registration_form(
    client: Client, organiser: Staff, app: Quart
) -> None:
    event = await published(client, organiser, I10)
    html = await (await client.get(f"/events/{event}?lang=en")).get_data(as_text=True)
    assert f'<a href="/events/{event}/register"><strong>Register</strong></a>' in html


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "followed"),
    [
        ("https://zoom.us/w/123?tk=abc", True),
        ("http://127.0.0.1:41000/w/123?tk=abc", True),  # the demo's stand-in
        ("http://localhost:41000/w/1", True),
        ("http://zoom.us/w/123", False),  # plain http elsewhere
        ("http://127.0.0.1.evil.example/w/1", False),
        ("javascript:alert(1)", False),
        ("//evil.example/w/1", False),
    ],
)
def test_only_meeting_addresses_are_followed(url: str, followed: bool) -> None:
    assert followable(url) is followed
