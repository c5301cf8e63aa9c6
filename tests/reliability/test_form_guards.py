"""The guards around every HTML form and page, generated from the route table and the pages
(tests/reliability/forms.py): every state-changing page route refuses a missing, wrong or
borrowed CSRF token and changes nothing; every page sends the security headers; session
cookies are HttpOnly, SameSite and (outside the demo) Secure; a body over the limit is a 413;
and the nastiest inputs (NUL, script, invalid UTF-8, 100 KB) into every typed field never make
a 5xx. The whole corpus runs in test_hostile_forms.py (reliability: once, on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.app import PAGE_BLUEPRINTS, create_app
from internet10.db import Database
from internet10.models import Base
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.conftest import HTTPSClient, Staff
from tests.reliability.forms import (
    CORPUS,
    INVALID_UTF8,
    NOT_HTML,
    REDIRECTS,
    TYPED,
    Seen,
    html_pages,
    page_routes,
)
from tests.reliability.hostile import (
    URLENCODED,
    Site,
    Tally,
    hostile_site,
    pour,
    run_order,
    send,
)

pytestmark = pytest.mark.integration

LIGHT_CORPUS = {e: CORPUS[e] for e in ("script", "NUL", "100 KB", "date in year 9999")}
LIGHT_INVALID = {"raw invalid UTF-8 bytes": INVALID_UTF8["raw invalid UTF-8 bytes"]}
SAFE_REFERRER_POLICIES = frozenset(
    {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


async def fingerprint(database: Database) -> str:
    """A digest of every row of every table: equal digests, nothing changed."""
    digest = hashlib.sha256()
    async with database.read() as db:
        for table in Base.metadata.sorted_tables:
            rows = (await db.execute(select(table))).all()
            digest.update(table.name.encode())
            for row in sorted(repr(tuple(r)) for r in rows):
                digest.update(row.encode())
    return digest.hexdigest()


async def test_every_page_and_form_is_guarded_against_forgery_and_nasty_input(
    settings: Settings, database: Database, now: dt.datetime, tmp_path: Path
) -> None:
    """Security headers on every page; CSRF refused on every form route, with no row changed;
    then the nastiest entries into every typed field. One seeded site for the three (seeding
    and signing six visitors in is most of the time)."""
    async with hostile_site(settings, database, now, tmp_path) as site:
        header_problems = await _security_header_problems(site)
        posts = [f for f in site.discovery.forms if f.method == "post"]
        assert {f.endpoint for f in posts} == page_routes(site.app, "POST")
        # a token that is valid, but for another visitor's session
        tokens = {f.visitor: dict(f.filled(0))["csrf_token"] for f in posts}
        before = await fingerprint(database)
        refused: dict[str, list[int]] = {}
        for form in posts:
            https = site.people[form.visitor].https
            plain = [(n, v) for n, v in form.filled(1) if n != "csrf_token"]
            borrowed = next(t for visitor, t in tokens.items() if visitor != form.visitor)
            statuses = []
            for token in (None, "", "wrong-token", borrowed):
                pairs = plain if token is None else [*plain, ("csrf_token", token)]
                response = await send(https, form, pairs)
                statuses.append(response.status_code)  # type: ignore[attr-defined]
            refused[f"{form.endpoint} {form.action}"] = statuses
        after = await fingerprint(database)
        tally, typed = await _light_corpus(site)
    assert header_problems == []
    assert {k: v for k, v in refused.items() if v != [400, 400, 400, 400]} == {}
    assert after == before
    print(f"\nCSRF: {len(posts)} forms, {4 * len(posts)} forged requests, all 400, no row changed")
    assert [str(p) for p in tally.problems] == []
    assert tally.requests >= typed * (len(LIGHT_CORPUS) + len(LIGHT_INVALID))
    print(f"light corpus: {typed} typed fields, {tally.requests} requests, {dict(tally.outcomes)}")


async def _light_corpus(site: Site) -> tuple[Tally, int]:
    tally = Tally()
    typed = 0
    for form in run_order(site.discovery.forms):
        fields = sum(f.kind in TYPED for f in form.corpus_fields())
        if fields:
            typed += fields
            await pour(site, tally, form, LIGHT_CORPUS, LIGHT_INVALID, typed_only=True)
    return tally, typed


def _script_sources(policy: str) -> list[str]:
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}
    return directives.get("script-src", directives.get("default-src", ["<none>"]))


async def _security_header_problems(site: Site) -> list[str]:
    """Every page route (from the route table) as every visitor, error pages, a redirect and a
    refused form: CSP without inline script, frame-ancestors, nosniff, a Referrer-Policy; and
    no page breaks its own policy with an inline script or an event-handler attribute."""
    expected = page_routes(site.app, "GET") - NOT_HTML
    assert set(html_pages(site.catalogue)) | REDIRECTS == expected
    anonymous = site.people["anonymous"].https
    seen = list(site.discovery.seen)
    for path in ("/events/424242", "/organiser", "/organiser/year", "/no/such/page"):
        seen.append(await _seen("anonymous", path, await anonymous.get(path)))
    refused = await anonymous.post("/login", data=b"email=x", headers=URLENCODED)
    seen.append(await _seen("anonymous", "POST /login without a token", refused))
    problems = []
    for page in seen:
        h, where = page.headers, f"{page.path} ({page.visitor}, {page.status})"
        policy = h.get("Content-Security-Policy", "")
        sources = _script_sources(policy)
        if not policy or "'unsafe-inline'" in sources or "'unsafe-eval'" in sources:
            problems.append(f"{where}: script-src {sources}")
        if not re.search(r"frame-ancestors\s+('none'|'self')", policy):
            problems.append(f"{where}: no frame-ancestors")
        if h.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{where}: no nosniff")
        if h.get("Referrer-Policy") not in SAFE_REFERRER_POLICIES:
            problems.append(f"{where}: Referrer-Policy {h.get('Referrer-Policy')}")
        if INLINE_SCRIPT.search(page.html) or EVENT_HANDLER.search(page.html):
            problems.append(f"{where}: inline script")
    assert {p.status for p in seen} >= {200, 302, 400, 403, 404}
    print(f"\nsecurity headers: {len(expected)} page routes, {len(seen)} answers checked")
    return problems


async def _seen(visitor: str, path: str, response: Any) -> Seen:
    html = await response.get_data(as_text=True)
    return Seen(visitor, path, response.status_code, response.headers, html)


def _set_cookies(response: object) -> dict[str, str]:
    """Cookie name -> its whole Set-Cookie header."""
    headers = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    return {h.split("=", 1)[0]: h for h in headers}


@pytest.mark.parametrize("demo", [False, True], ids=["production", "demo"])
async def test_session_cookies_are_httponly_samesite_and_secure_outside_the_demo(
    settings: Settings, database: Database, now: dt.datetime, organiser: Staff, demo: bool
) -> None:
    app = create_app(
        settings.model_copy(update={"demo": demo}),
        dependencies=Dependencies(database=database, clock=lambda: now),
    )
    async with app.test_app():
        https = HTTPSClient(app.test_client())
        form_page = await https.get("/login?lang=en")
        html = await form_page.get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        signed_in = await https.post(
            "/login",
            form={
                "email": organiser.email,
                "password": "correct horse battery staple",
                "csrf_token": token.group(1),
            },
        )
        assert signed_in.status_code == 302
    cookies = _set_cookies(form_page) | _set_cookies(signed_in)
    assert {"session", "QUART_AUTH", "lang"} <= set(cookies)
    for name in ("session", "QUART_AUTH", "lang"):
        attributes = {a.strip().split("=")[0].lower() for a in cookies[name].split(";")[1:]}
        assert "httponly" in attributes, name
        assert re.search(r"SameSite=(Lax|Strict)", cookies[name], re.IGNORECASE), name
        assert ("secure" in attributes) is not demo, name


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
async def test_a_form_body_over_the_limit_is_refused_with_413(
    client: Client, settings: Settings, multipart: bool
) -> None:
    limit = settings.max_body_bytes
    sizes = {}
    for size in (limit, limit + 1):
        if multipart:
            boundary = "hostileboundary"
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                'filename="agenda.ics"\r\nContent-Type: text/calendar\r\n\r\n'
            ).encode()
            tail = f"\r\n--{boundary}--\r\n".encode()
            body = head + b"A" * (size - len(head) - len(tail)) + tail
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        else:
            body = urlencode({"email": "a" * (size - len("email="))}).encode()
            headers = URLENCODED
        assert len(body) == size
        response = await client.post("/login", data=body, headers=headers, scheme="https")
        sizes[size] = response.status_code
    # at the limit the body is read (and the missing token refused); one byte more is a 413
    assert sizes == {limit: 400, limit + 1: 413}


async def test_a_nul_in_any_page_url_segment_or_query_is_refused_not_a_500(
    app: Quart, client: Client
) -> None:
    """Every page GET route from the route table, each text segment given a NUL: nothing is
    named so (404); a NUL in a query parameter is a 422 naming it. PostgreSQL refuses NUL in
    text: before the guard (internet10/pages/guard.py), a chapter's calendar feed was a 500."""
    answers: dict[str, int] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in PAGE_BLUEPRINTS or "GET" not in (rule.methods or ()):
            continue
        converters = rule._converters  # werkzeug keeps the arguments' types only here
        text = [name for name, c in converters.items() if type(c).__name__ == "UnicodeConverter"]
        if not text:
            continue
        values = {
            name: "a\x00b" if name in text else _any_value(c) for name, c in converters.items()
        }
        path = app.url_map.bind("testserver").build(rule.endpoint, values)
        answers[path] = (await client.get(path, scheme="https")).status_code
    assert answers
    assert set(answers.values()) == {404}, answers
    refused = await client.get("/hubs?tz=Europe/Paris%00", scheme="https")
    html = await refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'data-field="tz"' in html


def _any_value(converter: object) -> str | int:
    if type(converter).__name__ == "IntegerConverter":
        return 1
    return next(iter(getattr(converter, "items", ["x"])))
