"""Pages in French and English, sign-in with CSRF protection, security headers and cookies."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.services import auth
from tests.api.test_events import I10, create
from tests.conftest import HTTPSClient, Staff

pytestmark = pytest.mark.integration


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_home_is_french_by_default(client: Client) -> None:
    html = await (await client.get("/")).get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "<h1>Événements à venir</h1>" in html


async def test_home_follows_accept_language(client: Client) -> None:
    response = await client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    html = await response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Upcoming events</h1>" in html


async def test_language_choice_is_remembered(client: Client) -> None:
    chosen = await client.get("/?lang=en", headers={"Accept-Language": "fr"})
    assert "lang=en" in chosen.headers["Set-Cookie"]
    later = await client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in await later.get_data(as_text=True)


async def test_event_page_shows_local_times_in_both_languages(
    client: Client, organiser: Staff
) -> None:
    event = await create(client, organiser, I10 | {"title": "<script>alert(1)</script>"})
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    fr = await (await client.get(f"/events/{event['id']}?lang=fr")).get_data(as_text=True)
    assert "samedi 19 décembre 2026" in fr
    assert "<td>13:15</td>" in fr  # slot 1 in Porto-Novo time (UTC+1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fr
    assert "<script>alert" not in fr
    en = await (await client.get(f"/events/{event['id']}?lang=en")).get_data(as_text=True)
    assert "Saturday, December 19, 2026" in en
    assert "Open slot" in en


@pytest.mark.parametrize(("lang", "title"), [("fr", "Page introuvable"), ("en", "Page not found")])
async def test_missing_page_is_a_translated_404(client: Client, lang: str, title: str) -> None:
    response = await client.get(f"/events/4242?lang={lang}")
    assert response.status_code == 404
    assert f"<h1>{title}</h1>" in await response.get_data(as_text=True)


async def test_pages_carry_security_headers(client: Client) -> None:
    response = await client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


async def test_login_without_csrf_token_is_refused(client: Client, organiser: Staff) -> None:
    response = await client.post(
        "/login", form={"email": organiser.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers or "QUART_AUTH" not in response.headers.get(
        "Set-Cookie", ""
    )


async def test_login_with_wrong_csrf_token_is_refused(client: Client, organiser: Staff) -> None:
    await client.get("/login")
    response = await client.post(
        "/login",
        form={
            "email": organiser.email,
            "password": "correct horse battery staple",
            "csrf_token": "forged",
        },
    )
    assert response.status_code == 400


async def test_login_with_password_sets_a_safe_cookie(https: HTTPSClient, organiser: Staff) -> None:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login",
        form={
            "email": "  ORGA@example.org ",
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff"
    cookies = response.headers.get_all("Set-Cookie")
    auth_cookie = next(c for c in cookies if c.startswith("QUART_AUTH="))
    assert "HttpOnly" in auth_cookie
    assert "SameSite=Lax" in auth_cookie
    assert "Secure" in auth_cookie
    html = await (await https.get("/staff?lang=en")).get_data(as_text=True)
    assert '<li data-role="organiser">Organiser' in html


async def test_login_with_wrong_password_is_401(https: HTTPSClient, organiser: Staff) -> None:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": organiser.email, "password": "wrong", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "E-mail ou mot de passe incorrect." in await response.get_data(as_text=True)


async def test_login_link_works_once(
    https: HTTPSClient, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    async with database.write() as db:
        link = await auth.issue_token(db, organiser.user_id, kind="login", now=now)
    page = await https.get(f"/login/link/{link}")
    assert page.status_code == 200  # a GET alone never signs in (link previewers fetch links)
    token = csrf_from(await page.get_data(as_text=True))
    used = await https.post(f"/login/link/{link}", form={"csrf_token": token})
    assert used.status_code == 302
    again = await https.post(f"/login/link/{link}", form={"csrf_token": token})
    assert again.status_code == 401


async def test_staff_page_redirects_anonymous_to_login(client: Client) -> None:
    response = await client.get("/staff")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


async def test_logout_needs_csrf_and_signs_out(https: HTTPSClient, organiser: Staff) -> None:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    await https.post(
        "/login",
        form={
            "email": organiser.email,
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    assert (await https.post("/logout")).status_code == 400
    out = await https.post("/logout", form={"csrf_token": token})
    assert out.status_code == 302
    assert out.headers["Location"] == "/?done=signed-out"
    home = await (await https.get("/?done=signed-out&lang=en")).get_data(as_text=True)
    assert '<p class="notice" role="status" data-done="signed-out">You are signed out.</p>' in home
    assert (await https.get("/staff")).status_code == 302


async def test_organiser_dashboard_publishes_and_cancels(
    https: HTTPSClient, client: Client, organiser: Staff
) -> None:
    from tests.api.test_events import HUB

    event = await create(client, organiser, HUB)
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    await https.post(
        "/login",
        form={
            "email": organiser.email,
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    html = await (await https.get("/organiser?lang=en")).get_data(as_text=True)
    assert "<h1>Organiser dashboard</h1>" in html
    assert f'<tr data-event="{event["id"]}">' in html
    published = await https.post(
        f"/organiser/events/{event['id']}/status", form={"csrf_token": token, "to": "publish"}
    )
    assert published.headers["Location"] == "/organiser?done=publish"
    after = await (await https.get("/organiser?done=publish&lang=fr")).get_data(as_text=True)
    assert "L’événement est publié." in after
    assert (await client.get(f"/api/v1/events/{event['id']}")).status_code == 200
    bad = await https.post(
        f"/organiser/events/{event['id']}/status", form={"csrf_token": token, "to": "explode"}
    )
    assert bad.status_code == 422


async def test_organiser_dashboard_is_for_organisers(https: HTTPSClient) -> None:
    assert (await https.get("/organiser")).headers["Location"] == "/login"
