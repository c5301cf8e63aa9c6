"""Hostile JSON bodies against every API operation that takes one, read from ``/openapi.json``
(a new operation with a body fails ``test_every_body_operation_has_a_valid_body`` until it is
given a valid body here, so it cannot escape).

Each string field (at any depth) of each body receives a corpus: HTML and script, SQL
fragments, 100 KB, empty and blank strings, control characters (NUL among them), right-to-left
and combining Unicode, emoji, a lone surrogate. Each field also receives values of the wrong
type, numbers of 10**30, dates in years 1 and 9999, unknown and invalid time zones; each body is
also sent as malformed JSON, as bytes that are not UTF-8, as JSON that is not an object, and
over the size limit. What may come back:

- 2xx: the value was taken, and where the response shows the field it shows the value sent
  (at most trimmed of surrounding blanks): stored and returned intact;
- 4xx: ``{"code", "message"}`` JSON, and a 422 names the ``field`` at fault;
- 400 ``MALFORMED_BODY`` for bodies that are not a JSON object; 413 over the limit;
- never a 5xx. SQLite and PostgreSQL both run this (they differ on NUL and on lengths).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.settings import Settings, load_settings
from tests.conftest import SECRET
from tests.reliability.api_world import AGENDA, BOOKING, I10, World, registration, seed, staff

pytestmark = pytest.mark.integration

BIG = "x" * 100_000
CORPUS: dict[str, str] = {
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "sql": "'; DROP TABLE registrations; -- ' OR '1'='1",
    "100 KB": BIG,
    "empty": "",
    "blank": " \t \u00a0 ",
    "NUL": "a\x00b",
    "controls": "bell\x07escape\x1b[31m",
    "newlines": "line one\r\nline two",
    "right-to-left": "\u202eevil\u202c مرحبا بالعالم",
    "combining": "Ze\u0301\u0301\u0301 Z\u0337\u0322\u0348a\u0334l\u0336g\u0337o",
    "emoji": "\U0001f600\U0001f389 \U0001f469\U0001f3fd\u200d\U0001f4bb",
    "lone surrogate": "a\ud800b",
}
WRONG_TYPES: dict[str, Any] = {
    "number": 12345,
    "huge": 10**30,
    "negative huge": -(10**30),
    "float": 1.5,
    "true": True,
    "list": ["x"],
    "object": {"x": 1},
}
DATES = {
    "year 1": "0001-01-01T00:00:00Z",
    "year 9999": "9999-12-31T23:59:59Z",
    "no zone": "2026-12-19T12:00:00",
    "not a date": "tomorrow",
    "date year 1": "0001-01-01",
    "date year 9999": "9999-12-31",
}
ZONES = {
    "unknown zone": "Mars/Olympus_Mons",
    "path zone": "../../etc/passwd",
    "zone with NUL": "UTC\x00",
    "lower-case zone": "europe/paris",
}


@dataclass(frozen=True)
class Base:
    """A valid request: path parameters, who sends it, and a body made fresh for each send."""

    path: dict[str, int]
    body: Callable[[int], dict[str, Any]]
    who: str = "organiser"


def _booking(n: int) -> dict[str, Any]:
    return {**BOOKING, "chapter": "FR", "slides_url": "https://slides.example.org/fr"}


# One valid body per operation (ids from api_world).
BASES: dict[str, Base] = {
    "POST /api/v1/events": Base({}, lambda n: {**I10, "title": f"Hostile {n}", "venue": "V"}),
    "PATCH /api/v1/events/{event_id}": Base(
        {"event_id": 3},
        lambda n: {
            "title": "Draft",
            "description": "Described.",
            "venue": "Cotonou",
            "timezone": "Africa/Porto-Novo",
            "starts_at": "2026-12-19T12:00:00Z",
            "capacity": 300,
        },
    ),
    "PUT /api/v1/events/{event_id}/agenda": Base({"event_id": 3}, lambda n: {"slots": 10}),
    "POST /api/v1/events/{event_id}/publish": Base({"event_id": 1}, lambda n: {}),
    "POST /api/v1/events/{event_id}/plan": Base(
        {"event_id": 3},
        lambda n: {"date": "2026-12-19", "chapters": ["BJ", "SN"], "top": 1},
    ),
    "POST /api/v1/events/{event_id}/plan/apply": Base(
        {"event_id": 3},
        lambda n: {"starts_at": "2026-12-19T12:00:00Z", "order": ["BJ", None], "force": False},
    ),
    "POST /api/v1/events/{event_id}/registrations": Base(
        {"event_id": 1}, lambda n: registration(1000 + n), who="anonymous"
    ),
    "POST /api/v1/events/{event_id}/sessions/preview": Base(
        {"event_id": 2}, lambda n: {"ics": AGENDA}
    ),
    "POST /api/v1/events/{event_id}/sessions/import": Base(
        {"event_id": 2}, lambda n: {"ics": AGENDA, "uids": ["plenary@upstream"]}
    ),
    "POST /api/v1/questions/{question_id}/moderation": Base(
        {"question_id": 1},
        lambda n: {"action": "edit", "text": "Edited question?", "language": "en"},
    ),
    "POST /api/v1/slots/{slot_id}/assign": Base({"slot_id": 15}, lambda n: {"chapter": "FR"}),
    "PATCH /api/v1/slots/{slot_id}/booking": Base(
        {"slot_id": 1},
        lambda n: {
            "title": "Community networks",
            "abstract": "What we learnt.",
            "language": "fr",
            "speakers": [{"name": "Afi Mensah", "email": "afi@example.org"}],
            "slides_url": "https://slides.example.org/bj",
        },
    ),
    "POST /api/v1/slots/{slot_id}/booking": Base({"slot_id": 3}, _booking),
    "POST /api/v1/slots/{slot_id}/live": Base({"slot_id": 9}, lambda n: {"action": "skip"}),
    "POST /api/v1/slots/{slot_id}/qa": Base({"slot_id": 1}, lambda n: {"open": True}),
    "POST /api/v1/slots/{slot_id}/questions": Base(
        {"slot_id": 1},
        lambda n: {"text": "How many community networks?", "language": "en", "anonymous": False},
        who="attendee",
    ),
    "POST /api/v1/slots/{slot_id}/swaps": Base({"slot_id": 2}, lambda n: {"to_slot_id": 1}, "sn"),
}
# Bodies signed by their sender: a hostile body is refused (401) before it is read; the webhook
# attack tests (docs/reliability.md, section 5) cover it.
SIGNED = frozenset({"POST /webhooks/zoom"})


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        registration_rate_per_minute=1_000_000,
        qa_question_rate_per_minute=1_000_000,
        qa_vote_rate_per_minute=1_000_000,
        max_body_bytes=1_048_576,
    )


@dataclass
class Attempt:
    operation: str
    what: str
    status: int
    body: Any
    problem: str | None


def _body_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                found[f"{method.upper()} {path}"] = _resolve(schema, document)
    return found


def _resolve(schema: Any, document: dict[str, Any]) -> Any:
    """The schema with its ``$ref``s replaced by what they name."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            target = document["components"]["schemas"].get(name) or schema.get("$defs", {})[name]
            return _resolve(target, document)
        defs = schema.get("$defs", {})
        out = {}
        for key, value in schema.items():
            if key == "$defs":
                continue
            out[key] = _resolve_local(value, defs, document)
        return out
    if isinstance(schema, list):
        return [_resolve(s, document) for s in schema]
    return schema


def _resolve_local(schema: Any, defs: dict[str, Any], document: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _resolve_local(defs[ref.rsplit("/", 1)[-1]], defs, document)
        return {k: _resolve_local(v, defs, document) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve_local(s, defs, document) for s in schema]
    return _resolve(schema, document)


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = set()
    if isinstance(schema.get("type"), str):
        kinds.add(schema["type"])
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        kinds |= _types(option)
    if "enum" in schema:
        kinds.add("string")
    return kinds


def _object_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    if "properties" in schema:
        return schema
    for option in schema.get("anyOf", []):
        if "properties" in option:
            return option
    return None


def _array_items(schema: dict[str, Any]) -> dict[str, Any] | None:
    if "items" in schema:
        return dict(schema["items"])
    for option in schema.get("anyOf", []):
        if "items" in option:
            return dict(option["items"])
    return None


Path = tuple[str | int, ...]


def fields(schema: dict[str, Any], body: Any, prefix: Path = ()) -> Iterator[tuple[Path, set[str]]]:
    """Every field of the body's schema (at any depth, through the base body's lists), with
    the JSON types it accepts."""
    obj = _object_schema(schema)
    if obj is None:
        return
    for name, sub in obj["properties"].items():
        path = (*prefix, name)
        kinds = _types(sub)
        yield path, kinds
        value = body.get(name) if isinstance(body, dict) else None
        nested = _object_schema(sub)
        if nested is not None and isinstance(value, dict):
            yield from fields(nested, value, path)
        items = _array_items(sub)
        if items is not None and isinstance(value, list) and value:
            item_path = (*path, 0)
            yield item_path, _types(items)
            if isinstance(value[0], dict):
                yield from fields(items, value[0], item_path)


def put(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path``."""
    copy = json.loads(json.dumps(body))
    target: Any = copy
    for step in path[:-1]:
        target = target[step]
    last = path[-1]
    if isinstance(target, list):
        assert isinstance(last, int)
        target[last] = value
    else:
        target[last] = value
    return copy


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _echo(response: Any, path: Path) -> Any:
    """The field's value as the response shows it, when it shows it at the same place."""
    value = response
    for step in path:
        at_index = isinstance(step, int) and isinstance(value, list) and len(value) > step
        at_key = isinstance(step, str) and isinstance(value, dict) and step in value
        if not (at_index or at_key):
            return None
        value = value[step]
    return value


Expectation = Callable[[int, Any], str | None]


class Sender:
    def __init__(self, client: Client, world: World) -> None:
        self.client = client
        self.world = world
        self.attempts: list[Attempt] = []
        self.n = 0

    def headers(self, who: str) -> dict[str, str]:
        token = {
            "organiser": self.world.organiser,
            "sn": self.world.delegate_sn,
            "attendee": self.world.attendees[0],
        }.get(who)
        return self.world.bearer(token) if token else {}

    async def send(
        self,
        label: str,
        base: Base,
        what: str,
        raw: bytes,
        *,
        expect: Callable[[int, Any], str | None],
    ) -> None:
        method, template = label.split(" ", 1)
        url = template.format(**base.path)
        headers = {"Content-Type": "application/json", **self.headers(base.who)}
        response = await self.client.open(url, method=method, data=raw, headers=headers)
        text = await response.get_data(as_text=True)
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text[:200]
        problem = None
        if response.status_code >= 500:
            problem = "server error"
        elif response.status_code >= 400 and not (
            isinstance(data, dict) and isinstance(data.get("code"), str) and "message" in data
        ):
            problem = "error without {code, message}"
        else:
            problem = expect(response.status_code, data)
        self.attempts.append(Attempt(label, what, response.status_code, data, problem))

    def fresh(self, base: Base) -> dict[str, Any]:
        self.n += 1
        return base.body(self.n)


def _encode(body: Any) -> bytes:
    return json.dumps(body).encode()  # ASCII escapes: a lone surrogate travels as \\ud800


def field_value_expectation(path: Path, sent: Any) -> Callable[[int, Any], str | None]:
    name = dotted(path)

    def expect(status: int, data: Any) -> str | None:
        if 200 <= status < 300:
            if isinstance(sent, str):
                shown = _echo(data, path)
                # Kept as sent, at most trimmed, and with line ends as "\n" (text fields).
                kept = {sent, sent.strip(), sent.replace("\r\n", "\n")}
                if shown is not None and shown not in kept:
                    return f"{name} came back as {str(shown)[:80]!r}"
            return None
        if status == 422:
            field = data.get("field")
            if field is None:
                return "422 without a field"
            field = re.sub(r"\[(\d+)\]", r".\1", field)  # chapters[0] is chapters.0
            if not (field == name or name.startswith(field) or field.startswith(name)):
                return f"422 names {field!r}, not {name!r}"
        return None

    return expect


def malformed(status: int, data: Any) -> str | None:
    if status != 400 or data.get("code") != "MALFORMED_BODY":
        return f"expected 400 MALFORMED_BODY, got {status} {data.get('code')}"
    return None


def too_large(status: int, data: Any) -> str | None:
    return None if status == 413 else f"expected 413, got {status}"


async def _world(client: Client, database: Database) -> World:
    world = await staff(database)

    async def send(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        extra: dict[str, Any] = {} if body is None else {"json": body}
        response = await client.open(path, method=method, headers=headers, **extra)
        return response.status_code, await response.get_json()

    await seed(world, send)
    return world


async def _document(client: Client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = await response.get_json()
    return document


async def test_every_body_operation_has_a_valid_body(client: Client, database: Database) -> None:
    operations = _body_operations(await _document(client))
    assert sorted(set(operations) - SIGNED) == sorted(BASES)
    world = await _world(client, database)
    sender = Sender(client, world)
    for label, base in BASES.items():
        await sender.send(
            label, base, "valid", _encode(sender.fresh(base)), expect=lambda s, d: None
        )
    statuses = {a.operation: a.status for a in sender.attempts}
    assert {label: s for label, s in statuses.items() if not 200 <= s < 300} == {}


async def test_hostile_bodies_get_a_4xx_naming_the_field_or_are_kept_intact(
    client: Client, database: Database, settings: Settings
) -> None:
    started = time.monotonic()
    operations = _body_operations(await _document(client))
    world = await _world(client, database)
    sender = Sender(client, world)
    fields_tried = 0
    for label, base in BASES.items():
        schema = operations[label]
        example = base.body(0)
        for path, kinds in fields(schema, example):
            fields_tried += 1
            values: dict[str, Any] = {}
            if "string" in kinds:
                values |= CORPUS
            values |= {k: v for k, v in WRONG_TYPES.items() if _wrong_for(v, kinds)}
            leaf = str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
            if leaf.endswith("_at") or leaf == "date":
                values |= DATES
            if leaf == "timezone":
                values |= ZONES
            for what, value in values.items():
                body = put(sender.fresh(base), path, value)
                await sender.send(
                    label,
                    base,
                    f"{dotted(path)} = {what}",
                    _encode(body),
                    expect=field_value_expectation(path, value),
                )
        for what, raw in (
            ("malformed JSON", b'{"title": "unterminated'),
            ("not UTF-8", b'{"title": "\xff\xfe\xfd"}'),
            ("JSON array", b"[]"),
            ("JSON string", b'"text"'),
            ("JSON null", b"null"),
            ("JSON number", b"1e999999"),
            ("deep nesting", b"[" * 10_000 + b"]" * 10_000),
        ):
            await sender.send(label, base, what, raw, expect=malformed)
        oversized = b'{"title": "' + b"a" * settings.max_body_bytes + b'"}'
        await sender.send(label, base, "over the size limit", oversized, expect=too_large)
    problems = [
        f"{a.operation} [{a.what}] -> {a.status}: {a.problem}: {str(a.body)[:300]}"
        for a in sender.attempts
        if a.problem
    ]
    statuses = Counter(a.status for a in sender.attempts)
    print(
        f"\nHostile API bodies: {len(BASES)} operations, {fields_tried} fields, "
        f"{len(sender.attempts)} requests, statuses {dict(sorted(statuses.items()))}, "
        f"{len(problems)} problems, {time.monotonic() - started:.1f} s"
    )
    for problem in problems:
        print(problem)
    assert problems == []
    assert not any(s >= 500 for s in statuses)


def _wrong_for(value: Any, kinds: set[str]) -> bool:
    """Whether ``value`` is of a JSON type the field does not take."""
    if isinstance(value, bool):
        return "boolean" not in kinds
    if isinstance(value, int):
        return not kinds & {"integer", "number"} or abs(value) > 2**63
    if isinstance(value, float):
        return not kinds & {"number"}
    if isinstance(value, list):
        return "array" not in kinds
    if isinstance(value, dict):
        return "object" not in kinds
    return True
