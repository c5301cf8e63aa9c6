"""The app's HTML forms as a visitor meets them: the catalogue's data (tests/pages/catalogue.py)
plus a pending slot swap and a failed job (so every form has a page that shows it), every
catalogue page fetched by an organiser, by two chapter delegates and by an anonymous visitor,
and every ``<form>`` parsed from those pages with its fields (``<input>``, ``<textarea>``,
``<select>``). A form field added to a template is found here without touching the tests; a POST
page route that no page offers a form for fails the coverage test."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from urllib.parse import urlsplit

from quart import Quart
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, Headers

from internet10.app import PAGE_BLUEPRINTS
from internet10.db import Database
from internet10.models import Chapter, Event, JobStatus, Role, Slot
from internet10.services import auth, booking
from internet10.services.outbox import enqueue
from tests.conftest import HTTPSClient, make_staff
from tests.pages.catalogue import (
    AGENDA,
    NOT_HTML,
    ORGANISER,
    PASSWORD,
    REDIRECTS,
    Catalogue,
    _ics_time,
    seed,
)

DELEGATE_BJ = ("delegate.hostile.bj@example.org", "delegate bj password")
DELEGATE_KE = ("delegate.hostile.ke@example.org", "delegate ke password")
DELEGATE_NL = ("delegate.hostile.nl@example.org", "delegate nl password")  # holds no slot
COORDINATOR = ("coordinator.hostile@example.org", "coordinator password")
# Fields the browser sends as typed; the others (hidden, select, radio...) as the page set them.
TYPED = frozenset(
    {"text", "email", "url", "search", "tel", "password", "number", "date", "datetime-local",
     "time", "textarea"}
)  # fmt: skip
PLAUSIBLE = {
    "email": "hostile{}@example.org",
    "password": "hostile-forms-password-0123",
    "url": "",
    "number": "1",
    "date": "2026-12-01",
    "search": "",
}
NOT_SENT = frozenset({"submit", "button", "reset", "image", "file"})


@dataclass
class Field:
    name: str
    kind: str  # the input's type, "textarea" or "select"
    value: str = ""
    options: list[str] = field(default_factory=list)
    checked: bool = True  # checkboxes and radios: sent only when checked


@dataclass
class Form:
    method: str  # "get" or "post"
    action: str  # a path, with its query string if any
    multipart: bool
    fields: list[Field]
    page: str  # the path of the page that showed it
    endpoint: str = ""  # the app's endpoint the action resolves to
    visitor: str = ""  # who was shown it (whose CSRF token it carries)

    def defaults(self) -> dict[str, str]:
        """What a browser sends when the form is submitted untouched (CSRF token included), one
        value per name."""
        return dict(reversed(self.filled(0)))

    def filled(self, serial: int) -> list[tuple[str, str]]:
        """What a visitor sends after filling the form in plausibly: the page's values, the
        checked boxes, a radio and an option chosen, empty typed fields given a value of their
        type (``serial`` makes e-mail addresses unique)."""
        sent: list[tuple[str, str]] = []
        radios: set[str] = set()
        for f in self.fields:
            if f.kind in NOT_SENT:
                continue
            if f.kind == "checkbox" and f.checked:
                sent.append((f.name, f.value))
            elif f.kind == "radio":
                group = [g for g in self.fields if g.kind == "radio" and g.name == f.name]
                chosen = next((g for g in group if g.checked), group[0])
                if f.name not in radios:
                    radios.add(f.name)
                    sent.append((f.name, chosen.value))
            elif f.kind == "select":
                sent.append((f.name, f.value or first([o for o in f.options if o])))
            elif f.kind in TYPED and not f.value:
                sent.append((f.name, PLAUSIBLE.get(f.kind, "Hostile forms test").format(serial)))
            elif f.kind not in ("checkbox", "radio"):
                sent.append((f.name, f.value))
        return sent

    def corpus_fields(self) -> list[Field]:
        """Every field a visitor (or a forger) can put text in: all but the CSRF token and the
        buttons; one entry per name."""
        seen: dict[str, Field] = {}
        for f in self.fields:
            if f.kind in NOT_SENT or f.name == "csrf_token":
                continue
            seen.setdefault(f.name, f)
        return list(seen.values())


def first(options: list[str]) -> str:
    return options[0] if options else ""


class _FormParser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                method=a.get("method", "get").lower(),
                action=a.get("action") or self.page,
                multipart=a.get("enctype", "") == "multipart/form-data",
                fields=[],
                page=self.page,
            )
            self.forms.append(self._form)
            return
        if self._form is None or "name" not in a:
            if tag == "option" and self._select is not None:
                self._option(a)
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            checked = "checked" in a if kind in ("checkbox", "radio") else True
            value = a.get("value", "on" if kind == "checkbox" else "")
            self._form.fields.append(Field(a["name"], kind, value, checked=checked))
        elif tag == "textarea":
            self._textarea = Field(a["name"], "textarea")
            self._form.fields.append(self._textarea)
        elif tag == "select":
            self._select = Field(a["name"], "select")
            self._form.fields.append(self._select)
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._form.fields.append(Field(a["name"], "submit", a.get("value", "")))

    def _option(self, a: dict[str, str]) -> None:
        assert self._select is not None
        value = a.get("value", "")
        self._select.options.append(value)
        if "selected" in a:
            self._select.value = value

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(html: str, page: str) -> list[Form]:
    parser = _FormParser(page)
    parser.feed(html)
    parser.close()
    return parser.forms


def endpoint_of(app: Quart, path: str, method: str) -> str:
    adapter = app.url_map.bind("testserver")
    endpoint, _args = adapter.match(urlsplit(path).path, method=method.upper())
    return str(endpoint)


def page_routes(app: Quart, method: str) -> set[str]:
    """The page blueprints' endpoints that answer ``method`` (from the route table)."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS and method in (rule.methods or ())
    }


def html_pages(catalogue: Catalogue) -> dict[str, str]:
    return {e: p for e, p in catalogue.pages.items() if e not in NOT_HTML and e not in REDIRECTS}


async def sign_in(https: HTTPSClient, email: str, password: str) -> None:
    page = await (await https.get("/login")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "the login form carries a CSRF token"
    response = await https.post(
        "/login", form={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, await response.get_data(as_text=True)


@dataclass
class Visitor:
    name: str
    https: HTTPSClient


async def seed_everything(database: Database, *, now: dt.datetime) -> Catalogue:
    """The catalogue, three delegates and a hub coordinator with passwords, a pending swap
    (Benin's slot for Kenya's), a failed job, and the Internet10 session moved to start within
    the hour (so its open Q&A window is one the hub can relay into): the data behind every
    form."""
    catalogue = await seed(database, now=now)
    await make_staff(
        database, DELEGATE_NL[0], Role.DELEGATE, now=now, password=DELEGATE_NL[1],
        chapter_code="NL",
    )  # fmt: skip
    await make_staff(
        database, COORDINATOR[0], Role.HUB_COORDINATOR, now=now, password=COORDINATOR[1],
        event_id=catalogue.hub_id,
    )  # fmt: skip
    bj = await make_staff(
        database, DELEGATE_BJ[0], Role.DELEGATE, now=now, password=DELEGATE_BJ[1],
        chapter_code="BJ",
    )  # fmt: skip
    await make_staff(
        database, DELEGATE_KE[0], Role.DELEGATE, now=now, password=DELEGATE_KE[1],
        chapter_code="KE",
    )  # fmt: skip
    async with database.write() as db:
        slots = (
            await db.scalars(
                select(Slot).where(Slot.event_id == catalogue.event_id).order_by(Slot.position)
            )
        ).all()
        chapters = {c.id: c.code for c in (await db.scalars(select(Chapter))).all()}
        held = {chapters[s.chapter_id]: s for s in slots if s.chapter_id is not None}
        principal = await auth.principal_for_user(db, bj.user_id)
        await booking.propose_swap(db, principal, held["BJ"].id, held["KE"].id, now=now)
        failed = await enqueue(db, "mail.send", {}, now=now)
        failed.status = JobStatus.FAILED.value
        failed.last_error = "SMTP refused: hostile-forms test"
        event = await db.get(Event, catalogue.event_id)
        assert event is not None
        event.starts_at = now + dt.timedelta(minutes=30)
    return catalogue


async def visitors(app: Quart) -> list[Visitor]:
    """An anonymous visitor, the two delegates and an organiser, each with its own cookies (in
    this order: a form is submitted by the first who was shown it)."""
    people = []
    for name, credentials in (
        ("anonymous", None),
        ("delegate BJ", DELEGATE_BJ),
        ("delegate KE", DELEGATE_KE),
        ("delegate NL", DELEGATE_NL),
        ("hub coordinator", COORDINATOR),
        ("organiser", (ORGANISER, PASSWORD)),
    ):
        https = HTTPSClient(app.test_client())
        if credentials is not None:
            await sign_in(https, *credentials)
        people.append(Visitor(name, https))
    return people


@dataclass(frozen=True)
class Seen:
    visitor: str
    path: str
    status: int
    headers: Headers  # case-insensitive
    html: str


@dataclass
class Discovery:
    forms: list[Form]
    seen: list[Seen]  # every page fetched, with its answer's status and headers


def extra_pages(catalogue: Catalogue) -> list[str]:
    """Pages that show more forms than their plain address: the check-in desk's search."""
    return [f"/hubs/{catalogue.hub_id}/checkin?q=Koffi"]


async def discover(app: Quart, catalogue: Catalogue, people: Iterable[Visitor]) -> Discovery:
    """Every form on every catalogue page as each visitor sees it, with the endpoint it posts
    to, and the forms on the pages those forms answer with when sent a valid file (the hub's
    agenda preview offers the import); a form seen again (same method, endpoint and field
    names) is kept once, as first seen."""
    found: dict[tuple[str, str, tuple[str, ...]], Form] = {}
    seen: list[Seen] = []

    def keep(forms: list[Form], visitor: Visitor) -> None:
        for form in forms:
            form.endpoint = endpoint_of(app, form.action, form.method)
            form.visitor = visitor.name
            key = (form.method, form.endpoint, tuple(sorted(f.name for f in form.fields)))
            found.setdefault(key, form)

    for visitor in people:
        for path in [*html_pages(catalogue).values(), *extra_pages(catalogue)]:
            response = await visitor.https.get(path)
            html = await response.get_data(as_text=True)
            seen.append(Seen(visitor.name, path, response.status_code, response.headers, html))
            if response.status_code != 200:
                continue
            forms = parse_forms(html, path)
            keep(forms, visitor)
            for form in forms:
                if form.multipart and any(f.kind == "file" for f in form.fields):
                    answer = await visitor.https.post(
                        form.action,
                        form=form.defaults(),
                        files={
                            f.name: FileStorage(BytesIO(agenda(catalogue)), "agenda.ics")
                            for f in form.fields
                            if f.kind == "file"
                        },
                    )
                    if answer.status_code == 200:
                        keep(parse_forms(await answer.get_data(as_text=True), path), visitor)
    return Discovery(list(found.values()), seen)


def agenda(catalogue: Catalogue) -> bytes:
    first = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    return AGENDA % {
        b"first": _ics_time(first),
        b"first_end": _ics_time(first + dt.timedelta(minutes=45)),
        b"second": _ics_time(first + dt.timedelta(hours=1)),
        b"second_end": _ics_time(first + dt.timedelta(hours=2)),
    }


# ------------------------------------------------------------------------------- the corpus

XSS_MARK = "i10-xss"
# What a hostile value would look like in a page that did not escape it.
RAW_MARKS = (
    re.compile(r"<script>alert", re.IGNORECASE),
    re.compile(r"<img src=x onerror", re.IGNORECASE),
    re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE),
    re.compile(r"<svg/onload", re.IGNORECASE),
)
CORPUS: dict[str, str] = {
    "script": f'<script>alert("{XSS_MARK}")</script>',
    "attribute break-out": f"\"'><img src=x onerror=alert('{XSS_MARK}')>",
    "javascript: URL": f"javascript:alert('{XSS_MARK}')",
    "svg onload": f"<svg/onload=alert('{XSS_MARK}')>",
    "template syntax": "{{ 7*7 }} {% raw %} ${7*7}",
    "SQL quote": "'; DROP TABLE registrations; --",
    "SQL tautology": "1' OR '1'='1",
    "SQL union": "1 UNION SELECT password_hash FROM users--",
    "100 KB": "A" * 100_000,
    "empty": "",
    "whitespace only": " \t\u00a0\u2003 ",
    "NUL": "before\x00after",
    "control characters": "bell\x07 escape\x1b[31m backspace\x08 del\x7f",
    "CRLF header injection": "value\r\nSet-Cookie: injected=1",
    "right-to-left override": "\u202egnp.exe\u202c Aïcha",
    "Arabic (right-to-left)": "مرحبا بالعالم",
    "combining marks": "Z\u0335\u031b\u0321a\u0336\u0327l\u0337g\u0338o\u0336",
    "emoji": "🎉👩🏽‍💻🇧🇯",
    "lone surrogate escape": "\\ud800 &#xd800; &#0;",
    "wrong type: word for a number": "twelve",
    "negative number": "-1",
    "fraction": "1.5",
    "huge number": "9" * 40,
    "beyond 32 bits": "2147483648",
    "float overflow": "1e309",
    "date in year 1": "0001-01-01",
    "date in year 9999": "9999-12-31",
    "datetime in year 1": "0001-01-01T00:00:00+00:00",
    "datetime in year 9999": "9999-12-31T23:59:59+14:00",
    "impossible date": "2026-02-30",
    "unknown time zone": "Mars/Olympus_Mons",
    "invalid time zone": "../../etc/passwd",
    "offset as zone": "UTC+99:99",
}
# The entries a value the page chose (hidden fields, options, boxes) is forged with: the page's
# values are not typed, so the whole corpus goes to the typed fields only.
TAMPER = (
    "script",
    "SQL quote",
    "100 KB",
    "empty",
    "NUL",
    "control characters",
    "wrong type: word for a number",
    "huge number",
    "beyond 32 bits",
    "date in year 9999",
    "invalid time zone",
)
# Invalid UTF-8 in a urlencoded body: percent-encoded, and as raw bytes.
INVALID_UTF8: dict[str, bytes] = {
    "percent-encoded invalid UTF-8": b"%FF%FE%C3%28%ED%A0%80",
    "raw invalid UTF-8 bytes": b"\xff\xfe\xc3\x28\xed\xa0\x80",
}


def raw_marks(html: str) -> list[str]:
    """The hostile markup that reached ``html`` unescaped."""
    return [m.group(0) for pattern in RAW_MARKS for m in pattern.finditer(html)]
