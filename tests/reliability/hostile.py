"""Sending hostile values through the app's forms and judging its answers: never a 5xx, never
hostile markup unescaped in a page, a refusal that says what to correct."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, urlencode, urlsplit

from quart import Quart
from werkzeug.datastructures import FileStorage

from integrations.mail.mailbox import FileMailbox
from internet10.app import create_app
from internet10.db import Database
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.conftest import HTTPSClient
from tests.pages.catalogue import Catalogue
from tests.reliability.forms import (
    TAMPER,
    TYPED,
    Discovery,
    Form,
    Visitor,
    discover,
    parse_forms,
    raw_marks,
    seed_everything,
    visitors,
)

URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
# A form whose only inputs are hidden values and boxes is a button (start, close, apply...):
# those run after the forms people type into, so their state changes come last.
BUTTON_KINDS = frozenset({"hidden", "checkbox", "radio", "submit", "button"})
# Accepted entries whose page (the redirect's target) is fetched and checked: the markup ones,
# and those a template could mishandle (very long, right-to-left, emoji).
SHOWN = frozenset(
    {"script", "attribute break-out", "javascript: URL", "svg onload", "template syntax",
     "100 KB", "right-to-left override", "emoji"}
)  # fmt: skip
FIELD_MARK = re.compile(r'data-field="([^"]*)"')


def hostile_app(settings: Settings, database: Database, now: dt.datetime, mailbox: Path) -> Quart:
    """The demo app (its mailbox page exists) on a clock that stands still, with rate limits
    out of the way: the corpus is many requests from one address and one registration."""
    return create_app(
        settings.model_copy(
            update={
                "demo": True,
                "registration_rate_per_minute": 1_000_000,
                "qa_question_rate_per_minute": 1_000_000,
                "qa_vote_rate_per_minute": 1_000_000,
            }
        ),
        dependencies=Dependencies(
            database=database, clock=lambda: now, mailer=FileMailbox(mailbox)
        ),
    )


@dataclass
class Site:
    app: Quart
    catalogue: Catalogue
    people: dict[str, Visitor]
    discovery: Discovery


@asynccontextmanager
async def hostile_site(
    settings: Settings, database: Database, now: dt.datetime, tmp_path: Path
) -> AsyncIterator[Site]:
    app = hostile_app(settings, database, now, tmp_path / "mailbox.jsonl")
    async with app.test_app():
        catalogue = await seed_everything(database, now=now)
        people = await visitors(app)
        discovery = await discover(app, catalogue, people)
        yield Site(app, catalogue, {p.name: p for p in people}, discovery)


@dataclass
class Problem:
    endpoint: str
    field: str
    entry: str
    what: str

    def __str__(self) -> str:
        return f"{self.endpoint} [{self.field} <- {self.entry}]: {self.what}"


@dataclass
class Tally:
    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # accepted / refused, by status
    unnamed: list[str] = field(default_factory=list)  # 400/422 on the generic error page
    problems: list[Problem] = field(default_factory=list)
    seconds: Counter[str] = field(default_factory=Counter)  # time spent per endpoint


def button_like(form: Form) -> bool:
    return all(f.kind in BUTTON_KINDS for f in form.fields)


def run_order(forms: list[Form]) -> list[Form]:
    return sorted(forms, key=lambda f: (button_like(f), f.endpoint, f.action))


async def fresh(site: Site, form: Form) -> Form:
    """The form as its page shows it now (values move as the corpus changes things)."""
    https = site.people[form.visitor].https
    response = await https.get(form.page)
    if response.status_code == 200:
        names = sorted(f.name for f in form.fields)
        for candidate in parse_forms(await response.get_data(as_text=True), form.page):
            if (
                candidate.action == form.action
                and sorted(f.name for f in candidate.fields) == names
            ):
                candidate.endpoint, candidate.visitor = form.endpoint, form.visitor
                return candidate
    return form


def with_value(pairs: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in pairs if n != name] + [(name, value)]


async def send(https: HTTPSClient, form: Form, pairs: list[tuple[str, str]]) -> object:
    if form.method == "get":
        return await https.get(f"{urlsplit(form.action).path}?{urlencode(pairs)}")
    if form.multipart:
        files = {
            f.name: FileStorage(BytesIO(b""), "", content_type="application/octet-stream")
            for f in form.fields
            if f.kind == "file"
        }
        return await https.post(form.action, form=dict(pairs), files=files)
    return await https.post(form.action, data=urlencode(pairs).encode(), headers=URLENCODED)


async def send_bytes(https: HTTPSClient, form: Form, body: bytes) -> object:
    if form.method == "get":  # a request line is ASCII: raw bytes travel percent-encoded
        query = quote_from_bytes(body, safe="=&%+")
        return await https.get(f"{urlsplit(form.action).path}?{query}")
    return await https.post(form.action, data=body, headers=URLENCODED)


async def judge(
    site: Site, tally: Tally, form: Form, name: str, entry: str, response: object
) -> None:
    """Record the answer; follow a redirect to the page it leads to (where a stored value
    shows)."""
    status: int = response.status_code  # type: ignore[attr-defined]
    body: str = await response.get_data(as_text=True)  # type: ignore[attr-defined]
    tally.requests += 1
    where = Problem(form.endpoint, name, entry, "")
    if status >= 500:
        tally.problems.append(Problem(**{**where.__dict__, "what": f"{status}: {body[:300]!r}"}))
        return
    if marks := raw_marks(body):
        tally.problems.append(Problem(**{**where.__dict__, "what": f"unescaped {marks}"}))
    if status in (400, 422):
        if FIELD_MARK.search(body):
            tally.outcomes["400/422 naming the field (data-field)"] += 1
        elif 'role="alert"' in body:
            tally.outcomes["400/422 with the form's own error message"] += 1
        elif entry == "raw invalid UTF-8 bytes":
            tally.outcomes["400 body not UTF-8 (no field to name)"] += 1
        else:
            tally.unnamed.append(f"{form.endpoint} [{name} <- {entry}]")
    if status in (301, 302, 303):
        tally.outcomes["accepted (redirect)"] += 1
        location = response.headers["Location"]  # type: ignore[attr-defined]
        if entry in SHOWN and location.startswith(("/", "http://testserver", "https://testserver")):
            https = site.people[form.visitor].https
            follow = await https.get(urlsplit(location).path + _query(location))
            tally.requests += 1
            followed = await follow.get_data(as_text=True)
            if follow.status_code >= 500:
                tally.problems.append(
                    Problem(**{**where.__dict__, "what": f"{location} -> {follow.status_code}"})
                )
            if marks := raw_marks(followed):
                tally.problems.append(
                    Problem(**{**where.__dict__, "what": f"{location} unescaped {marks}"})
                )
            if "&lt;script&gt;alert(" in followed:
                tally.outcomes["stored, shown escaped on the next page"] += 1
    elif status < 300:
        tally.outcomes[f"answered {status}"] += 1
    else:
        tally.outcomes[f"refused {status}"] += 1


def _query(location: str) -> str:
    query = urlsplit(location).query
    return f"?{query}" if query else ""


async def pour(
    site: Site,
    tally: Tally,
    form: Form,
    corpus: dict[str, str],
    invalid: dict[str, bytes],
    *,
    typed_only: bool = False,
) -> None:
    """Every corpus entry into every field of ``form`` (the TAMPER entries only into the
    fields the page fills: hidden, options, boxes), one field at a time, the others filled in
    plausibly; then each invalid UTF-8 sequence into each field."""
    started = time.monotonic()
    form = await fresh(site, form)
    https = site.people[form.visitor].https
    serial = tally.requests
    for target in form.corpus_fields():
        if typed_only and target.kind not in TYPED:
            continue
        entries = corpus if target.kind in TYPED else {e: corpus[e] for e in TAMPER if e in corpus}
        for entry, value in entries.items():
            serial += 1
            pairs = with_value(form.filled(serial), target.name, value)
            await judge(site, tally, form, target.name, entry, await send(https, form, pairs))
        for entry, raw in invalid.items():
            serial += 1
            others = [(n, v) for n, v in form.filled(serial) if n != target.name]
            body = urlencode(others).encode() + b"&" + quote(target.name).encode() + b"=" + raw
            await judge(site, tally, form, target.name, entry, await send_bytes(https, form, body))
    tally.seconds[form.endpoint] += time.monotonic() - started


async def pages_escape_everything(site: Site, tally: Tally) -> int:
    """Every catalogue page, as every visitor, after the corpus: no hostile markup raw; the
    number of pages that show some of it escaped (stored, then rendered safely)."""
    from tests.reliability.forms import extra_pages, html_pages

    shown = 0
    paths = [*html_pages(site.catalogue).values(), *extra_pages(site.catalogue)]
    for visitor in site.people.values():
        for path in paths:
            response = await visitor.https.get(path)
            tally.requests += 1
            html = await response.get_data(as_text=True)
            if response.status_code >= 500:
                tally.problems.append(Problem(path, "-", visitor.name, str(response.status_code)))
            if marks := raw_marks(html):
                tally.problems.append(Problem(path, "-", visitor.name, f"unescaped {marks}"))
            if "&lt;script&gt;alert(" in html:
                shown += 1
    return shown
