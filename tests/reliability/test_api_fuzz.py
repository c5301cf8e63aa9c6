"""Schemathesis against the app's own ``/openapi.json``, in-process (ASGI, no network).

Every documented operation gets at least ``CASES`` generated requests, valid and invalid by
the document (positive and negative generation), sent with the organiser's bearer token into a
seeded world (``api_world``: ids 1, 2, 3 exist), and every response is checked: no 5xx, a status
the document lists for the operation, a body that matches the document's schema for it (and its
content type). Then a stateful run: register -> get -> cancel, by hypothesis' rule-based state
machine, with the same checks on every response and the registrations' final state compared
with a model of what should be.

Deterministic: hypothesis is derandomized (the same cases every run), and failures are recorded
rather than shrunk. The figures printed at the end are the ones in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from internet10.app import create_app
from internet10.db import Database
from internet10.settings import Settings, load_settings
from internet10.state import Dependencies
from tests.conftest import SECRET, _empty_tables
from tests.reliability.api_world import NOW, World, seed, staff

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

CASES = 100  # generated requests per operation, at least
STATEFUL_RUNS, STATEFUL_STEPS = 12, 15  # register/get/cancel sequences, steps in each
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
SETTINGS = hypothesis.settings(
    max_examples=CASES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # failures are recorded, not shrunk
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
ASGIApp = Any


class HangUpOnStreams:
    """The client that opens a live stream (``text/event-stream``) and hangs up once its
    headers arrived: the test sees the stream's status and headers (what the document
    promises), and the app sees a client leave, as browsers do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hung_up = False

        async def forward(message: dict[str, Any]) -> None:
            nonlocal hung_up
            if hung_up:
                return
            await send(message)
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if content_type.startswith(b"text/event-stream"):
                    hung_up = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope, receive, forward)


def fuzz_settings(database_url: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        # Rate limits hold below the services: the fuzzer should reach them, past 429.
        registration_rate_per_minute=1_000_000,
        qa_question_rate_per_minute=1_000_000,
        qa_vote_rate_per_minute=1_000_000,
        live_heartbeat_seconds=1.0,
        zoom_webhook_secret="fuzz-webhook-secret",
    )


async def _fresh_staff(settings: Settings) -> World:
    database = Database(settings)
    try:
        await _empty_tables(database)
        return await staff(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[tuple[HangUpOnStreams, World]]:
    """The app, serving (its own database pool, in schemathesis' event-loop thread), seeded."""
    settings = fuzz_settings(database_url)
    world = asyncio.run(_fresh_staff(settings))
    app = HangUpOnStreams(create_app(settings, dependencies=Dependencies(clock=lambda: NOW)))
    try:
        with asgi.get_client(app) as client:

            async def send(
                method: str, path: str, body: Any, headers: dict[str, str]
            ) -> tuple[int, Any]:
                response = client.request(method, path, json=body, headers=headers, timeout=60)
                return response.status_code, response.json()

            asyncio.run(seed(world, send))
        yield app, world
    finally:
        asgi.shutdown_lifespans()  # the app's after_serving: its pool closes


def _failure(label: str, case: schemathesis.Case, exc: BaseException) -> str:
    return (
        f"{label}: {type(exc).__name__}: {str(exc)[:1500]}\n  reproduce: {case.as_curl_command()}"
    )


def _fuzz(
    operation: schemathesis.APIOperation,
    session: asgi.ASGIClient,
    auth: dict[str, str],
    tried: Counter[str],
    failures: list[str],
) -> None:
    label = operation.label
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @SETTINGS
    @given(case=strategy)
    def exercise(case: schemathesis.Case) -> None:
        tried[label] += 1
        try:
            response = case.call(session=session, headers=auth, timeout=60)
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # recorded with the case, reported below
            if sum(f.startswith(label + ":") for f in failures) < 3:
                failures.append(_failure(label, case, exc))

    exercise()


def test_every_operation_answers_as_documented(
    served: tuple[HangUpOnStreams, World],
) -> None:
    app, world = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    auth = world.bearer(world.organiser)
    tried: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    with asgi.get_client(app) as session:
        for operation in operations:
            _fuzz(operation, session, auth, tried, failures)
    elapsed = time.monotonic() - started
    total = sum(tried.values())
    print(
        f"\nAPI fuzz: {len(operations)} operations, {total} cases "
        f"(min {min(tried.values())}, max {max(tried.values())} per operation), "
        f"{len(failures)} failures, {elapsed:.1f} s"
    )
    for label in sorted(tried):
        print(f"  {tried[label]:4d}  {label}")
    for failure in failures:
        print(failure)
    assert failures == []
    assert sorted(tried) == sorted(o.label for o in operations)
    # Operations that take no input at all have one request to send.
    without_input = {o.label for o in operations if not _has_input(o)}
    assert without_input == {"GET /healthz", "GET /readyz"}
    assert {label: n for label, n in tried.items() if n < CASES} == dict.fromkeys(without_input, 1)


def _has_input(operation: schemathesis.APIOperation) -> bool:
    return bool(operation.path_parameters or operation.query or operation.headers or operation.body)


# ------------------------------------------------------------------ stateful: register, get, cancel

CAPACITY = 2  # small, so that registrations wait and cancellations promote
NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=60,
).filter(lambda name: bool(name.strip()))


class Registrations(RuleBasedStateMachine):
    """People register on a fresh event of ``CAPACITY`` places, look at their place and cancel
    it, in any order hypothesis chooses; each response is checked against the document and the
    state against a model: first come first served, the first waitlisted promoted when a place
    frees, a cancelled place stays cancelled, a personal token opens its own registration only.
    """

    registered = Bundle("registered")
    cancelled = Bundle("cancelled")
    schema: Any
    session: asgi.ASGIClient
    world: World
    runs: Counter[str]

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[int, str] = {}
        self.tokens: dict[int, str] = {}
        self.names: dict[int, str] = {}
        created = self.call(
            "POST /api/v1/events",
            body={
                "kind": "hub",
                "title": "Stateful hub",
                "starts_at": "2026-12-12T09:00:00Z",
                "duration_minutes": 60,
                "timezone": "UTC",
                "capacity": CAPACITY,
            },
            headers=self.world.bearer(self.world.organiser),
            expected=201,
        )
        self.event_id = created["id"]
        self.call(
            "POST /api/v1/events/{event_id}/publish",
            path_parameters={"event_id": self.event_id},
            headers=self.world.bearer(self.world.organiser),
            expected=200,
        )
        self.runs["machines"] += 1

    def call(
        self,
        label: str,
        *,
        expected: int,
        path_parameters: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        operation = self.schema.find_operation_by_label(label)
        kwargs: dict[str, Any] = {"path_parameters": path_parameters or {}, "headers": headers}
        if body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        case = operation.Case(**kwargs)
        response = case.call(session=self.session, timeout=60)
        case.validate_response(response, checks=CHECKS)
        self.runs["requests"] += 1
        assert response.status_code == expected, (label, response.status_code, response.text)
        return response.json()

    def expected_position(self, registration_id: int) -> int | None:
        if self.status[registration_id] != "waitlisted":
            return None
        ahead = [i for i, s in self.status.items() if s == "waitlisted" and i < registration_id]
        return len(ahead) + 1

    @rule(target=registered, name=NAMES, language=st.sampled_from(["fr", "en"]))
    def register(self, name: str, language: str) -> int:
        n = len(self.status) + 1
        created = self.call(
            "POST /api/v1/events/{event_id}/registrations",
            path_parameters={"event_id": self.event_id},
            body={
                "name": name,
                "email": f"stateful{n}.event{self.event_id}@example.org",
                "country": "BJ",
                "language": language,
            },
            expected=201,
        )
        confirmed = sum(s == "confirmed" for s in self.status.values())
        expected = "confirmed" if confirmed < CAPACITY else "waitlisted"
        registration_id: int = created["id"]
        self.status[registration_id] = expected
        self.tokens[registration_id] = created["access_token"]
        self.names[registration_id] = name.strip()
        assert created["status"] == expected
        assert created["waitlist_position"] == self.expected_position(registration_id)
        self.runs["registered"] += 1
        return registration_id

    @rule(registration_id=registered)
    def get_own(self, registration_id: int) -> None:
        seen = self.call(
            "GET /api/v1/registrations/{registration_id}",
            path_parameters={"registration_id": registration_id},
            headers=self.world.bearer(self.tokens[registration_id]),
            expected=200,
        )
        assert seen["id"] == registration_id
        assert seen["event_id"] == self.event_id
        assert seen["name"] == self.names[registration_id]
        assert seen["status"] == self.status[registration_id]
        assert seen["waitlist_position"] == self.expected_position(registration_id)
        self.runs["got"] += 1

    @rule(registration_id=registered)
    def get_another_persons(self, registration_id: int) -> None:
        others = [i for i in self.tokens if i != registration_id]
        if not others:
            return
        other = others[registration_id % len(others)]
        refused = self.call(
            "GET /api/v1/registrations/{registration_id}",
            path_parameters={"registration_id": other},
            headers=self.world.bearer(self.tokens[registration_id]),
            expected=403,
        )
        assert refused["code"] == "FORBIDDEN"
        assert set(refused) == {"code", "message"}  # nothing of the other person's
        self.runs["refused"] += 1

    @rule(target=cancelled, registration_id=consumes(registered))
    def cancel(self, registration_id: int) -> int:
        done = self.call(
            "DELETE /api/v1/registrations/{registration_id}",
            path_parameters={"registration_id": registration_id},
            headers=self.world.bearer(self.tokens[registration_id]),
            expected=200,
        )
        assert done == {"id": registration_id, "status": "cancelled"}
        freed = self.status[registration_id] == "confirmed"
        self.status[registration_id] = "cancelled"
        waiting = sorted(i for i, s in self.status.items() if s == "waitlisted")
        if freed and waiting:
            self.status[waiting[0]] = "confirmed"
        self.runs["cancelled"] += 1
        return registration_id

    @rule(registration_id=cancelled)
    def cancel_again(self, registration_id: int) -> None:
        done = self.call(
            "DELETE /api/v1/registrations/{registration_id}",
            path_parameters={"registration_id": registration_id},
            headers=self.world.bearer(self.tokens[registration_id]),
            expected=200,
        )
        assert done == {"id": registration_id, "status": "cancelled"}
        seen = self.call(
            "GET /api/v1/registrations/{registration_id}",
            path_parameters={"registration_id": registration_id},
            headers=self.world.bearer(self.tokens[registration_id]),
            expected=200,
        )
        assert seen["status"] == "cancelled"
        self.runs["cancelled again"] += 1

    @invariant()
    def counts_match_the_model(self) -> None:
        summary = self.call(
            "GET /api/v1/events/{event_id}/registrations/summary",
            path_parameters={"event_id": self.event_id},
            headers=self.world.bearer(self.world.organiser),
            expected=200,
        )
        counts = Counter(self.status.values())
        assert (summary["confirmed"], summary["waitlisted"], summary["cancelled"]) == (
            counts["confirmed"],
            counts["waitlisted"],
            counts["cancelled"],
        )


def test_register_get_cancel_sequences_keep_every_place(
    served: tuple[HangUpOnStreams, World],
) -> None:
    app, world = served
    runs: Counter[str] = Counter()
    started = time.monotonic()
    with asgi.get_client(app) as session:
        Registrations.schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        Registrations.session = session
        Registrations.world = world
        Registrations.runs = runs
        machine = Registrations.TestCase
        machine.settings = hypothesis.settings(
            max_examples=STATEFUL_RUNS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        machine().runTest()
    print(
        f"\nStateful: {runs['machines']} sequences, {runs['requests']} requests "
        f"({runs['registered']} registered, {runs['got']} read back, {runs['refused']} "
        f"refused to another person, {runs['cancelled']} cancelled, "
        f"{runs['cancelled again']} cancelled twice), {time.monotonic() - started:.1f} s"
    )
    assert runs["machines"] >= STATEFUL_RUNS
    assert min(runs[k] for k in ("registered", "got", "refused", "cancelled")) > 0


def test_the_checks_catch_what_the_document_does_not_say(
    served: tuple[HangUpOnStreams, World],
) -> None:
    """The fuzz test can fail: the same checks reject a status, and a body, that the document
    (altered here) does not allow."""
    app, world = served
    with asgi.get_client(app) as client:
        document = client.get("/openapi.json").json()
    create = document["paths"]["/api/v1/events"]["post"]
    del create["responses"]["422"]
    listed = document["paths"]["/api/v1/events"]["get"]["responses"]["200"]
    listed["content"]["application/json"]["schema"] = {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array"}},
    }
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    bad = schema["/api/v1/events"]["POST"].Case(
        body={"kind": "party"}, media_type="application/json"
    )
    with pytest.raises(BaseExceptionGroup) as undocumented:
        bad.call_and_validate(headers=world.bearer(world.organiser), checks=CHECKS)
    assert "Undocumented status code" in str(undocumented.value.exceptions)
    listing = schema["/api/v1/events"]["GET"].Case()
    with pytest.raises(BaseExceptionGroup) as nonconforming:
        listing.call_and_validate(headers=world.bearer(world.organiser), checks=CHECKS)
    assert "Response violates schema" in str(nonconforming.value.exceptions)
