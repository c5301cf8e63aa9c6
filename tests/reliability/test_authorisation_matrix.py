"""The authorisation matrix: every route of the app (read from ``app.url_map``, so a new route
cannot escape) times every identity, with the exact status each one gets.

Identities: anonymous; an attendee of this event (their personal link: the token in ``/me/...``
pages, a bearer token on the API); an attendee of another event; a delegate of chapter A acting
on chapter B's booking; a moderator of another event; a hub coordinator of another hub; an
organiser. Staff call the API with their bearer token and the pages with the sign-in cookie.

One seeded world holds two Internet10 events, two hubs, chapters with bookings, registrations,
questions (one asked anonymously) and, for every state-changing route an organiser may use, an
object of its own (an event to cancel, a swap to accept, a failed job to retry...), so the
organiser's successful request changes nothing another row reads. Identities run in a fixed
order, the allowed ones last; page forms carry a valid CSRF token, so a status says who may do
what, never that the form was refused.

Beside the statuses, every response body sent to anyone but the organiser is searched for the
names and e-mail addresses of people other than the caller: nobody's personal data, and no
anonymous asker's name, reaches another person.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from internet10 import demo
from internet10.app import create_app
from internet10.db import Database
from internet10.models import Event, EventKind, EventStatus, Job, JobStatus, Role, User
from internet10.services import auth, booking, checkin, qa
from internet10.services import events as events_service
from internet10.services import registration as registrations
from internet10.services.events import event_slots
from internet10.services.meetings import MeetingPolicy
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.conftest import SECRET, make_staff

pytestmark = pytest.mark.integration

ANON = "anonymous"
ATTENDEE = "attendee"
ATTENDEE_OTHER = "attendee_of_another_event"
DELEGATE = "delegate_of_A_on_B"
MODERATOR_OTHER = "moderator_of_another_event"
COORDINATOR_OTHER = "coordinator_of_another_hub"
ORGANISER = "organiser"
# The order requests are sent in, for each route: refused identities first, allowed ones last,
# so an allowed request that changes the object it names comes after every refusal.
IDENTITIES = (
    ANON,
    ATTENDEE_OTHER,
    DELEGATE,
    MODERATOR_OTHER,
    COORDINATOR_OTHER,
    ATTENDEE,
    ORGANISER,
)
ATTENDEES = frozenset({ATTENDEE, ATTENDEE_OTHER})
STAFF = frozenset({DELEGATE, MODERATOR_OTHER, COORDINATOR_OTHER, ORGANISER})
SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})
STREAMS = frozenset({"api_live.live_stream"})  # text/event-stream: read the start only
PASSWORD = "authorisation matrix password"
NO_TOKEN = "no-such-personal-link-0123456789abcdef"  # staff and strangers hold no personal link

AGENDA_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:plenary@ietf\r\nSUMMARY:IETF plenary\r\n"
    "DTSTART:20270115T140000Z\r\nDTEND:20270115T160000Z\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass
class World:
    """Ids and links of the seeded world, by name; ``people`` are everyone whose personal data
    the app holds (registrants), by the identity that may see them as their own."""

    ids: dict[str, int | str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # identity -> personal link
    staff: dict[str, Any] = field(default_factory=dict)  # identity -> Staff
    people: list[tuple[Person, str | None]] = field(default_factory=list)
    deciders: dict[str, auth.CreatedUser] = field(default_factory=dict)  # chapter -> delegate

    def values(self, identity: str) -> dict[str, Any]:
        # a delegate of A always names chapter B; others, chapters with no slot yet (one each
        # for the API and the page, so the organiser's two bookings do not collide)
        return self.ids | {
            "token": self.tokens.get(identity, NO_TOKEN),
            "chapter": "SN" if identity == DELEGATE else "MU",
            "chapter_page": "SN" if identity == DELEGATE else "BR",
            "who": identity.replace("_", "-"),
        }


@dataclass(frozen=True)
class Case:
    """One route and method: the path (a format string over :meth:`World.values`), the body
    (JSON for the API, a form for pages; string values are formatted too) and the exact status
    per identity."""

    path: str
    expect: Mapping[str, int]
    body: Mapping[str, Any] | None = None
    staff_body: Mapping[str, Any] | None = None  # added to the body for staff callers
    files: Mapping[str, str] | None = None  # page uploads: field -> file content


def expect(default: int, **by_identity: int) -> dict[str, int]:
    """``default`` for everyone, with exceptions by identity (keyword names below)."""
    names = {
        "anonymous": ANON,
        "attendee": ATTENDEE,
        "attendee_other": ATTENDEE_OTHER,
        "delegate": DELEGATE,
        "moderator_other": MODERATOR_OTHER,
        "coordinator_other": COORDINATOR_OTHER,
        "organiser": ORGANISER,
    }
    table = dict.fromkeys(IDENTITIES, default)
    for key, status in by_identity.items():
        table[names[key]] = status
    return table


def organisers_only(ok: int = 200, anonymous: int = 401, attendees: int = 401) -> dict[str, int]:
    """API routes for organisers: anonymous 401, attendees' links are no API token (401),
    other staff 403."""
    return expect(
        403, anonymous=anonymous, attendee=attendees, attendee_other=attendees, organiser=ok
    )


def staff_page(ok: int = 200, anonymous: int = 302) -> dict[str, int]:
    """Staff pages: strangers are sent to the sign-in page, staff without the role get 403."""
    return expect(
        403, anonymous=anonymous, attendee=anonymous, attendee_other=anonymous, organiser=ok
    )


EVENT_CREATE = {
    "kind": "internet10",
    "title": "Created by {who}",
    "starts_at": "2027-03-01T12:00:00Z",
    "duration_minutes": 270,
    "timezone": "Africa/Porto-Novo",
    "capacity": 100,
}
PRESENTATION = {
    "chapter": "{chapter}",
    "title": "Une présentation",
    "language": "fr",
    "speakers": [{"name": "Oratrice", "email": "oratrice@example.org"}],
}
PRESENTATION_FORM = {
    "chapter": "{chapter}",
    "title": "Une présentation",
    "language": "fr",
    "speaker_name_1": "Oratrice",
    "speaker_email_1": "oratrice@example.org",
}
REGISTRATION = {
    "name": "Visitor {who}",
    "email": "{who}@visitors.example.org",
    "country": "BJ",
    "language": "fr",
}

MATRIX: dict[tuple[str, str], Case] = {
    # ------------------------------------------------------------------ public and operations
    ("public.home", "GET"): Case("/", expect(200)),
    ("public.event_page", "GET"): Case("/events/{e1}", expect(200)),
    ("hubs.calendar_page", "GET"): Case("/hubs", expect(200)),
    ("feeds.event_calendar", "GET"): Case("/events/{e1}/calendar.ics", expect(200)),
    ("feeds.chapter_calendar", "GET"): Case("/chapters/SN/calendar.ics", expect(200)),
    ("health.healthz", "GET"): Case("/healthz", expect(200)),
    ("health.readyz", "GET"): Case("/readyz", expect(200)),
    # scrapers' addresses only
    ("metrics.scrape", "GET"): Case("/metrics", expect(403)),
    ("openapi", "GET"): Case("/openapi.json", expect(200)),
    ("swagger_ui", "GET"): Case("/docs", expect(200)),
    ("redoc_ui", "GET"): Case("/redocs", expect(200)),
    ("scalar_ui", "GET"): Case("/scalar", expect(200)),
    # demo mode only
    ("mailbox.mailbox", "GET"): Case("/dev/mailbox", expect(404)),
    # Zoom not configured
    ("webhooks.zoom", "POST"): Case("/webhooks/zoom", expect(404), {"event": "meeting.started"}),
    # ------------------------------------------------------------------ events API
    ("api_events.list_events", "GET"): Case(
        "/api/v1/events", expect(200, attendee=401, attendee_other=401)
    ),
    ("api_events.get_event", "GET"): Case(
        "/api/v1/events/{draft}", expect(404, attendee=401, attendee_other=401, organiser=200)
    ),
    ("api_events.create_event", "POST"): Case("/api/v1/events", organisers_only(201), EVENT_CREATE),
    ("api_events.update_event", "PATCH"): Case(
        "/api/v1/events/{e1}", organisers_only(), {"description": "Mise à jour"}
    ),
    ("api_events.set_agenda", "PUT"): Case(
        "/api/v1/events/{agenda}/agenda", organisers_only(), {"slots": 8}
    ),
    ("api_events.publish_event", "POST"): Case(
        "/api/v1/events/{publish}/publish", organisers_only()
    ),
    ("api_events.cancel_event", "POST"): Case("/api/v1/events/{cancel}/cancel", organisers_only()),
    ("api_events.start_event", "POST"): Case("/api/v1/events/{start}/start", organisers_only()),
    ("api_events.end_event", "POST"): Case("/api/v1/events/{end}/end", organisers_only()),
    # ------------------------------------------------------------------ registrations API
    ("api_registrations.register", "POST"): Case(
        "/api/v1/events/{e1}/registrations", expect(201), REGISTRATION
    ),
    ("api_registrations.get_registration", "GET"): Case(
        "/api/v1/registrations/{john}", expect(403, anonymous=401, organiser=200)
    ),
    ("api_registrations.registration_summary", "GET"): Case(
        "/api/v1/events/{e1}/registrations/summary", organisers_only()
    ),
    ("api_registrations.export_registrations", "GET"): Case(
        "/api/v1/events/{e1}/registrations.csv", organisers_only()
    ),
    ("api_registrations.revoke_links", "POST"): Case(
        "/api/v1/registrations/{revoke}/links/revoke", expect(403, anonymous=401, organiser=200)
    ),
    ("api_registrations.cancel_registration", "DELETE"): Case(
        "/api/v1/registrations/{cancel_me}", expect(403, anonymous=401, organiser=200)
    ),
    ("api_registrations.restore_registration", "POST"): Case(
        "/api/v1/registrations/{restore_me}/restore", organisers_only()
    ),
    # ------------------------------------------------------------------ slots and swaps API
    ("api_slots.list_slots", "GET"): Case(
        "/api/v1/events/{e1}/slots", expect(200, attendee=401, attendee_other=401)
    ),
    # a delegate sees their chapter's swaps: none
    ("api_slots.list_swaps", "GET"): Case(
        "/api/v1/events/{swaps}/swaps",
        expect(403, anonymous=401, attendee=401, attendee_other=401, delegate=200, organiser=200),
    ),
    ("api_slots.book_slot", "POST"): Case(
        "/api/v1/slots/{open_api}/booking", organisers_only(201), PRESENTATION
    ),
    ("api_slots.update_booking", "PATCH"): Case(
        "/api/v1/slots/{slot_b}/booking", organisers_only(), {"title": "Titre corrigé"}
    ),
    ("api_slots.cancel_booking", "DELETE"): Case(
        "/api/v1/slots/{cancel_api}/booking", organisers_only()
    ),
    ("api_slots.approve_booking", "POST"): Case(
        "/api/v1/slots/{pending}/booking/approve", organisers_only()
    ),
    ("api_slots.assign_slot", "POST"): Case(
        "/api/v1/slots/{assign}/assign", organisers_only(), {"chapter": "IN"}
    ),
    ("api_slots.propose_swap", "POST"): Case(
        "/api/v1/slots/{slot_b}/swaps", organisers_only(403), {"to_slot_id": "{slot_c}"}
    ),
    # Only the delegates of the two chapters decide a swap, not even organisers; the asked
    # delegates then do (test_swaps_refused_above_are_decided_by_their_delegates).
    ("api_slots.accept_swap", "POST"): Case(
        "/api/v1/swaps/{swap_accept}/accept", organisers_only(403)
    ),
    ("api_slots.decline_swap", "POST"): Case(
        "/api/v1/swaps/{swap_decline}/decline", organisers_only(403)
    ),
    ("api_slots.withdraw_swap", "POST"): Case(
        "/api/v1/swaps/{swap_withdraw}/withdraw", organisers_only(403)
    ),
    # ------------------------------------------------------------------ planning, hubs, running
    ("api_planning.propose", "POST"): Case(
        "/api/v1/events/{e1}/plan", organisers_only(), {"chapters": ["BJ", "SN"]}
    ),
    ("api_planning.apply", "POST"): Case(
        "/api/v1/events/{plan}/plan/apply",
        organisers_only(),
        {"starts_at": "2027-02-01T12:00:00Z", "order": ["KE", None, "SN"]},
    ),
    ("api_hubs.list_sessions", "GET"): Case(
        "/api/v1/events/{h1}/sessions", expect(200, attendee=401, attendee_other=401)
    ),
    ("api_hubs.preview_sessions", "POST"): Case(
        "/api/v1/events/{h1}/sessions/preview", organisers_only(), {"ics": AGENDA_ICS}
    ),
    ("api_hubs.import_sessions", "POST"): Case(
        "/api/v1/events/{h1}/sessions/import", organisers_only(), {"ics": AGENDA_ICS}
    ),
    ("api_running.get_running_order", "GET"): Case(
        "/api/v1/events/{e1}/running-order", expect(200, attendee=401, attendee_other=401)
    ),
    ("api_running.drive_slot", "POST"): Case(
        "/api/v1/slots/{live_slot_api}/live", organisers_only(), {"action": "start"}
    ),
    ("api_live.live_stream", "GET"): Case(
        "/api/v1/events/{e1}/live?last_event_id=0", expect(200, attendee=401, attendee_other=401)
    ),
    ("api_attendance.event_attendance", "GET"): Case(
        "/api/v1/events/{e1}/attendance", organisers_only()
    ),
    # ------------------------------------------------------------------ Q&A API
    ("api_qa.get_window", "GET"): Case(
        "/api/v1/slots/{qa_slot}/qa", expect(200, attendee=401, attendee_other=401)
    ),
    ("api_qa.set_window", "POST"): Case(
        "/api/v1/slots/{qa_slot}/qa", organisers_only(), {"open": True}
    ),
    ("api_qa.list_questions", "GET"): Case("/api/v1/slots/{qa_slot}/questions", expect(200)),
    ("api_qa.ask", "POST"): Case(
        "/api/v1/slots/{qa_slot}/questions",
        expect(403, anonymous=401, attendee=201, organiser=201),
        {"text": "Une question de {who} ?", "language": "fr"},
        staff_body={"hub_id": "{h1}"},
    ),
    ("api_qa.vote", "POST"): Case(
        "/api/v1/questions/{q_public}/vote", expect(401, attendee_other=403, attendee=200)
    ),
    ("api_qa.withdraw_vote", "DELETE"): Case(
        "/api/v1/questions/{q_public}/vote", expect(401, attendee_other=403, attendee=200)
    ),
    ("api_qa.moderate", "POST"): Case(
        "/api/v1/questions/{q_mod_api}/moderation", organisers_only(), {"action": "approve"}
    ),
    ("api_qa.moderation_log", "GET"): Case("/api/v1/slots/{qa_slot}/moderation", organisers_only()),
    # ------------------------------------------------------------------ attendee pages
    ("attendee.register_form", "GET"): Case("/events/{e1}/register", expect(200)),
    ("attendee.register", "POST"): Case(
        "/events/{e1}/register",
        expect(302),
        REGISTRATION | {"email": "{who}@page-visitors.example.org"},
    ),
    ("attendee.personal", "GET"): Case(
        "/me/{token}", expect(404, attendee=200, attendee_other=200)
    ),
    ("attendee.personal_calendar", "GET"): Case(
        "/me/{token}/calendar.ics", expect(404, attendee=200, attendee_other=200)
    ),
    ("attendee.join", "GET"): Case("/join/{token}", expect(404, attendee=200, attendee_other=200)),
    ("qa.attendee_page", "GET"): Case(
        "/me/{token}/qa", expect(404, attendee=200, attendee_other=200)
    ),
    ("qa.ask", "POST"): Case(
        "/me/{token}/qa/{qa_slot}/questions",
        expect(404, attendee_other=403, attendee=302),
        {"text": "Question par le formulaire ?", "language": "fr"},
    ),
    ("qa.vote", "POST"): Case(
        "/me/{token}/qa/questions/{q_public}/vote",
        expect(404, attendee_other=403, attendee=302),
        {"slot": "{qa_slot}"},
    ),
    ("qa.presenter", "GET"): Case("/events/{e1}/qa/presenter", expect(200)),
    ("qa.projector", "GET"): Case("/events/{e1}/qa/projector", expect(200)),
    # ------------------------------------------------------------------ staff pages
    ("staff.login_form", "GET"): Case("/login", expect(200)),
    ("staff.login_submit", "POST"): Case(
        "/login", expect(401), {"email": "nobody@example.org", "password": "wrong password"}
    ),
    # a form; the POST checks the link
    ("staff.login_link", "GET"): Case("/login/link/{token}", expect(200)),
    ("staff.login_link_use", "POST"): Case("/login/link/{token}", expect(401)),
    ("staff.reset_form", "GET"): Case("/login/reset", expect(200)),
    # the same answer for everyone
    ("staff.reset_request", "POST"): Case(
        "/login/reset", expect(200), {"email": "nobody@example.org"}
    ),
    ("staff.reset_link", "GET"): Case("/login/reset/{token}", expect(401)),
    ("staff.reset_password", "POST"): Case(
        "/login/reset/{token}",
        expect(401),
        {"password": "a new long password", "confirm": "a new long password"},
    ),
    ("staff.home", "GET"): Case(
        "/staff", expect(200, anonymous=302, attendee=302, attendee_other=302)
    ),
    ("organiser.dashboard", "GET"): Case("/organiser", staff_page()),
    ("organiser.change_status", "POST"): Case(
        "/organiser/events/{status_page}/status", staff_page(302, anonymous=401), {"to": "cancel"}
    ),
    ("jobs.failed", "GET"): Case("/organiser/jobs", staff_page()),
    ("jobs.retry", "POST"): Case("/organiser/jobs/{job}/retry", staff_page(302)),
    ("planning.planning_page", "GET"): Case("/organiser/events/{e1}/planning", staff_page()),
    ("planning.apply_proposal", "POST"): Case(
        "/organiser/events/{plan_page}/planning/apply",
        staff_page(302),
        {"starts_at": "2027-02-02T12:00:00+00:00", "order": "KE"},
    ),
    ("registrations.registrations_page", "GET"): Case(
        "/organiser/events/{e1}/registrations", staff_page()
    ),
    ("registrations.change", "POST"): Case(
        "/organiser/events/{e1}/registrations/{cancel_page}/cancel", staff_page(302)
    ),
    ("hubs.sessions_page", "GET"): Case("/organiser/hubs/{h1}/sessions", staff_page()),
    ("hubs.sessions_preview", "POST"): Case(
        "/organiser/hubs/{h1}/sessions/preview", staff_page(), {}, files={"file": AGENDA_ICS}
    ),
    ("hubs.sessions_import", "POST"): Case(
        "/organiser/hubs/{h1}/sessions/import", staff_page(302, anonymous=401), {"ics": AGENDA_ICS}
    ),
    ("attendance.dashboard", "GET"): Case("/organiser/events/{e1}/attendance", staff_page()),
    ("attendance.chart_png", "GET"): Case("/organiser/events/{e1}/attendance.png", staff_page()),
    ("attendance.export", "GET"): Case(
        "/organiser/events/{e1}/attendance/people.csv", staff_page()
    ),
    ("attendance.report_page", "GET"): Case("/organiser/events/{e1}/report", staff_page()),
    ("attendance.report_pdf", "GET"): Case("/organiser/events/{e1}/report.pdf", staff_page()),
    ("attendance.this_year", "GET"): Case("/organiser/year", expect(302)),
    ("attendance.year_page", "GET"): Case("/organiser/year/2026", staff_page()),
    # ------------------------------------------------------------------ delegates' pages
    # chapter A's own page
    ("booking.event_page", "GET"): Case("/delegate/events/{e1}", staff_page() | {DELEGATE: 200}),
    ("booking.book", "POST"): Case(
        "/delegate/events/{e1}/slots/{open_page}/book",
        staff_page(302),
        PRESENTATION_FORM | {"chapter": "{chapter_page}"},
    ),
    ("booking.edit", "POST"): Case(
        "/delegate/events/{e1}/slots/{slot_b}/edit", staff_page(302), PRESENTATION_FORM
    ),
    ("booking.cancel", "POST"): Case(
        "/delegate/events/{e1}/slots/{cancel_page_slot}/cancel", staff_page(302)
    ),
    ("booking.propose_swap", "POST"): Case(
        "/delegate/events/{e1}/slots/{slot_b}/swap", staff_page(403), {"to_slot_id": "{slot_c}"}
    ),
    ("booking.decide_swap", "POST"): Case(
        "/delegate/events/{swaps}/swaps/{swap_page}/decline", staff_page(403)
    ),
    # ------------------------------------------------------------------ moderators' pages
    ("moderation.console", "GET"): Case("/moderator/events/{e1}", staff_page()),
    ("moderation.drive", "POST"): Case(
        "/moderator/slots/{live_slot_page}/live",
        staff_page(302, anonymous=401),
        {"action": "start"},
    ),
    ("qa.set_window", "POST"): Case(
        "/moderator/slots/{qa_slot}/qa", staff_page(302, anonymous=401), {"open": "yes"}
    ),
    ("qa.moderate", "POST"): Case(
        "/moderator/questions/{q_mod_page}/moderation",
        staff_page(302, anonymous=401),
        {"action": "approve"},
    ),
    # ------------------------------------------------------------------ hub coordinators' pages
    ("checkin.checkin_page", "GET"): Case("/hubs/{h1}/checkin", staff_page()),
    ("checkin.check_in", "POST"): Case("/hubs/{h1}/checkin/{koffi}", staff_page(302)),
    ("checkin.check_in_by_code", "POST"): Case(
        "/hubs/{h1}/checkin/code", staff_page(302), {"code": "{koffi_code}"}
    ),
    ("checkin.walk_in", "POST"): Case(
        "/hubs/{h1}/walk-in", staff_page(302), REGISTRATION | {"email": "{who}@walk-in.example.org"}
    ),
    ("qa.relay_page", "GET"): Case("/hubs/{h1}/qa", staff_page()),
    ("qa.relay", "POST"): Case(
        "/hubs/{h1}/qa/{qa_slot}",
        staff_page(302),
        {"text": "Question de la salle ?", "language": "fr"},
    ),
    # ------------------------------------------------------------------ last: they end a session
    ("attendee.cancel", "POST"): Case(
        "/me/{token}/cancel", expect(404, attendee=302, attendee_other=302), {"confirm": "yes"}
    ),
    ("staff.logout", "POST"): Case("/logout", expect(302)),
}


# Query strings and other objects that change what a route shows: sent before the matrix.
VARIANTS: dict[tuple[str, str], Case] = {
    ("api_qa.list_questions", "GET"): Case(
        "/api/v1/slots/{qa_slot}/questions?view=moderator",
        # moderators only; an attendee's link is no staff sign-in
        expect(403, anonymous=401, attendee=401, attendee_other=401, organiser=200),
    ),
    ("booking.event_page", "GET"): Case("/delegate/events/{e1}?chapter=SN", staff_page()),
    ("attendance.export", "GET"): Case(
        "/organiser/events/{e1}/attendance/intervals.json", staff_page()
    ),
    ("public.event_page", "GET"): Case("/events/{draft}", expect(404, organiser=200)),
    # a draft exists for organisers (and its moderators) only ...
    ("feeds.event_calendar", "GET"): Case(
        "/events/{draft}/calendar.ics", expect(404, organiser=200)
    ),
    ("attendee.register_form", "GET"): Case("/events/{draft}/register", expect(404, organiser=200)),
    ("api_slots.list_slots", "GET"): Case(
        # ... and its slots are shown to delegates too (booking's rule: staff who book or run it)
        "/api/v1/events/{draft}/slots",
        expect(404, attendee=401, attendee_other=401, delegate=200, organiser=200),
    ),
    ("api_events.list_events", "GET"): Case(
        "/api/v1/events?kind=internet10", expect(200, attendee=401, attendee_other=401)
    ),
}


def routes(app: Quart) -> set[tuple[str, str]]:
    """Every (endpoint, method) the app answers, static files aside."""
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or ()) - SKIPPED_METHODS
    }


# ---------------------------------------------------------------------------------- the world


def _fields(title: str, starts_at: dt.datetime, **extra: Any) -> events_service.EventFields:
    values: dict[str, Any] = {
        "kind": EventKind.INTERNET10,
        "title": title,
        "starts_at": starts_at,
        "duration_minutes": 270,
        "timezone": "Africa/Porto-Novo",
        "capacity": 300,
        "participant_target": 150,
    } | extra
    return events_service.EventFields(**values)


async def seed(database: Database, *, now: dt.datetime) -> World:
    await demo.seed(database, now=now)
    world = World()
    ids = world.ids
    policy = MeetingPolicy(enabled=False, host_capacity=300)
    async with database.write() as db:
        user = await db.scalar(select(User).where(User.email == "organiser@demo.internet10.test"))
        assert user is not None
        organiser = await auth.principal_for_user(db, user.id)
        assert organiser is not None
        demo_events = (await db.scalars(select(Event).order_by(Event.starts_at))).all()
        e1 = next(e for e in demo_events if e.kind == EventKind.INTERNET10.value)
        igf, ietf = (e for e in demo_events if e.kind == EventKind.HUB.value)
        ids |= {"e1": e1.id, "h1": ietf.id, "h2": igf.id}
        world.people.append((Person("Événement draft", ""), None))  # a draft, for organisers
        day = e1.starts_at

        async def event(name: str, status: EventStatus, **extra: Any) -> Event:
            created = await events_service.create_event(
                db,
                organiser,
                _fields(f"Événement {name}", day + dt.timedelta(days=2), **extra),
                now=now,
            )
            steps = {
                EventStatus.DRAFT: (),
                EventStatus.PUBLISHED: (EventStatus.PUBLISHED,),
                EventStatus.LIVE: (EventStatus.PUBLISHED, EventStatus.LIVE),
            }[status]
            for step in steps:
                await events_service.change_status(
                    db, organiser, created.id, step, now=now, meetings=policy
                )
            ids[name] = created.id
            return created

        e2 = await event("e2", EventStatus.PUBLISHED)
        for name in ("draft", "agenda", "publish"):
            await event(name, EventStatus.DRAFT)
        for name in ("cancel", "start", "status_page", "plan", "plan_page", "swaps"):
            await event(name, EventStatus.PUBLISHED)
        for name in ("end", "live_api", "live_page"):
            await event(name, EventStatus.LIVE)
        approval = await event("approval", EventStatus.PUBLISHED, bookings_need_approval=True)

        async def book(event_id: int, position: int, code: str) -> int:
            slot = list(await event_slots(db, event_id))[position - 1]
            speaker = booking.Speaker(f"Speaker {code}", f"speaker-{code.lower()}@example.org")
            presentation = booking.Presentation(f"Talk by {code}", "en", (speaker,))
            await booking.book_slot(
                db, organiser, slot.id, presentation, chapter_code=code, now=now
            )
            # speakers' addresses: for organisers and their own chapter's delegates only
            world.people.append((Person("", speaker.email), DELEGATE if code == "BJ" else None))
            return slot.id

        slots = list(await event_slots(db, e1.id))
        await book(e1.id, 1, "BJ")
        ids["slot_b"] = await book(e1.id, 2, "SN")  # chapter B's booking
        ids["slot_c"] = await book(e1.id, 3, "KE")
        ids["open_api"] = slots[3].id
        ids["open_page"] = slots[4].id
        ids["cancel_api"] = await book(e1.id, 6, "NP")
        ids["cancel_page_slot"] = await book(e1.id, 7, "JP")
        ids["assign"] = slots[7].id
        ids["qa_slot"] = slots[0].id
        ids["live_slot_api"] = next(iter(await event_slots(db, int(ids["live_api"])))).id
        ids["live_slot_page"] = next(iter(await event_slots(db, int(ids["live_page"])))).id
        pending_slot = next(iter(await event_slots(db, approval.id)))
        await booking.book_slot(
            db,
            organiser,
            pending_slot.id,
            booking.Presentation("Pending talk", "en", (booking.Speaker("Sp", "sp@example.org"),)),
            chapter_code="SN",
            now=now,
        )
        ids["pending"] = pending_slot.id

        swaps_event = int(ids["swaps"])
        for position, code in enumerate(("SN", "KE", "MU", "IN", "NP", "JP", "BR", "US"), 1):
            await book(swaps_event, position, code)
        swap_slots = list(await event_slots(db, swaps_event))
        for code in ("SN", "KE", "MU", "IN", "NP", "BR", "US"):
            world.deciders[code] = await auth.create_user(
                db,
                email=f"delegate.{code.lower()}@example.org",
                role=Role.DELEGATE,
                chapter_code=code,
                now=now,
                password=PASSWORD,
            )
        for name, (a, b), code in (
            ("swap_accept", (0, 1), "SN"),
            ("swap_decline", (2, 3), "MU"),
            ("swap_withdraw", (4, 5), "NP"),
            ("swap_page", (6, 7), "BR"),
        ):
            principal = await auth.principal_for_user(db, world.deciders[code].user_id)
            swap = await booking.propose_swap(
                db, principal, swap_slots[a].id, swap_slots[b].id, now=now
            )
            ids[name] = swap.id

        async def register(event_id: int, person: Person, owner: str | None, **extra: Any) -> Any:
            locked = await registrations.lock_open_event(db, event_id)
            done = await registrations.register(
                db,
                locked,
                registrations.Applicant(person.name, person.email, "BJ", "fr", **extra),
                now=now,
            )
            world.people.append((person, owner))
            return done

        aicha = await register(e1.id, Person("Aïcha Zinsou", "aicha@example.bj"), ATTENDEE)
        world.tokens[ATTENDEE] = aicha.access_token
        ousmane = await register(e2.id, Person("Ousmane Sow", "ousmane@example.sn"), ATTENDEE_OTHER)
        world.tokens[ATTENDEE_OTHER] = ousmane.access_token
        john = await register(e1.id, Person("John Doe", "john.doe@example.org"), None)
        victor = await register(e1.id, Person("Victor Anonyme", "victor@example.org"), None)
        ids["john"] = john.registration.id
        for name, person in (
            ("revoke", Person("Rita Revoke", "rita@example.org")),
            ("cancel_me", Person("Carl Cancel", "carl@example.org")),
            ("restore_me", Person("Rosa Restore", "rosa@example.org")),
            ("cancel_page", Person("Paula Page", "paula@example.org")),
        ):
            ids[name] = (await register(e1.id, person, None)).registration.id
        await registrations.cancel(db, int(ids["restore_me"]), now=now, principal=organiser)
        koffi = await register(
            ietf.id, Person("Koffi Agbo", "koffi@example.bj"), None, mode="in_person"
        )
        kodjo = await register(
            ietf.id, Person("Kodjo Ahoui", "kodjo@example.bj"), None, mode="in_person"
        )
        ids["koffi"] = koffi.registration.id
        ids["koffi_code"] = checkin.checkin_code(SECRET, kodjo.registration.id)

        # Q&A on slot 1: a named question on air, an approved anonymous one, pending ones.
        await qa.set_window(db, organiser, slots[0].id, open=True, now=now)
        named = await qa.ask(
            db,
            aicha.registration.id,
            slots[0].id,
            text="Quels outils ?",
            language="fr",
            anonymous=False,
            now=now,
        )
        await qa.moderate(db, organiser, named.id, "on_air", now=now)
        ids["q_public"] = named.id
        hidden = await qa.ask(
            db,
            victor.registration.id,
            slots[0].id,
            text="Une question sans nom ?",
            language="fr",
            anonymous=True,
            now=now,
        )
        await qa.moderate(db, organiser, hidden.id, "approve", now=now)
        for name in ("q_mod_api", "q_mod_page"):
            waiting = await qa.ask(
                db,
                victor.registration.id,
                slots[0].id,
                text=f"En attente {name} ?",
                language="fr",
                anonymous=True,
                now=now,
            )
            ids[name] = waiting.id

        job = Job(
            kind="mail.send",
            payload={},
            status=JobStatus.FAILED.value,
            attempts=8,
            max_attempts=8,
            run_after=now,
            created_at=now,
            updated_at=now,
            last_error="SMTP refused",
            finished_at=now,
        )
        db.add(job)
        await db.flush()
        ids["job"] = job.id

    world.staff[ORGANISER] = await make_staff(
        database, "organiser@demo.internet10.test", Role.ORGANISER, now=now, password=PASSWORD
    )
    world.staff[DELEGATE] = await make_staff(
        database,
        "delegate.bj@demo.internet10.test",
        Role.DELEGATE,
        now=now,
        password=PASSWORD,
        chapter_code="BJ",
    )
    world.staff[MODERATOR_OTHER] = await make_staff(
        database,
        "moderator.e2@example.org",
        Role.MODERATOR,
        now=now,
        password=PASSWORD,
        event_id=e2.id,
    )
    world.staff[COORDINATOR_OTHER] = await make_staff(
        database,
        "hub@demo.internet10.test",
        Role.HUB_COORDINATOR,
        now=now,
        password=PASSWORD,
        event_id=igf.id,
    )
    return world


# ---------------------------------------------------------------------------------- the run


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


@dataclass
class Caller:
    identity: str
    client: Client
    csrf: str
    headers: dict[str, str]


async def _caller(app: Quart, world: World, identity: str) -> Caller:
    client = app.test_client()
    csrf = _csrf(await (await client.get("/login", scheme="https")).get_data(as_text=True))
    headers: dict[str, str] = {}
    if identity in STAFF:
        staff = world.staff[identity]
        signed_in = await client.post(
            "/login",
            scheme="https",
            form={"email": staff.email, "password": PASSWORD, "csrf_token": csrf},
        )
        assert signed_in.status_code == 302, identity
        csrf = _csrf(await (await client.get("/login", scheme="https")).get_data(as_text=True))
        headers = staff.headers
    elif identity in ATTENDEES:
        headers = {"Authorization": f"Bearer {world.tokens[identity]}"}
    return Caller(identity, client, csrf, headers)


def _format(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        formatted = value.format(**values)
        return int(formatted) if formatted.isdigit() and value.startswith("{") else formatted
    if isinstance(value, list):
        return [_format(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _format(v, values) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    method: str
    identity: str
    path: str
    status: int
    body: str


async def send(caller: Caller, world: World, endpoint: str, method: str, case: Case) -> Outcome:
    values = world.values(caller.identity)
    path = case.path.format(**values)
    staff_extra = case.staff_body if caller.identity in STAFF else None
    body = _format(dict(case.body or {}) | dict(staff_extra or {}), values)
    kwargs: dict[str, Any] = {"scheme": "https"}
    if path.startswith("/api/"):
        kwargs["headers"] = caller.headers
        if case.body is not None or method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = body
    elif method != "GET":
        form = {k: str(v) for k, v in body.items()}
        kwargs["form"] = form | {"csrf_token": caller.csrf}
        if case.files:
            kwargs["files"] = {
                name: FileStorage(io.BytesIO(content.encode()), filename=f"{name}.ics")
                for name, content in case.files.items()
            }
    if endpoint in STREAMS:
        status, raw = await _stream_start(caller, path)
    else:
        response = await caller.client.open(path, method=method, **kwargs)
        status, raw = response.status_code, await response.get_data()
    return Outcome(endpoint, method, caller.identity, path, status, raw.decode("utf-8", "replace"))


async def _stream_start(caller: Caller, path: str) -> tuple[int, bytes]:
    """A Server-Sent Events route: its status and first chunk, then the client goes away (the
    test client would otherwise wait for the end of a stream that never ends)."""
    async with caller.client.request(path, headers=caller.headers, scheme="https") as connection:
        await connection.send_complete()
        first = await asyncio.wait_for(connection.receive(), timeout=60)
        status = connection.status_code
        await connection.disconnect()
    assert status is not None
    return status, first


@pytest.fixture
async def matrix_app(
    settings: Settings, database: Database, now: dt.datetime
) -> AsyncIterator[Quart]:
    app = create_app(
        settings.model_copy(
            update={
                "registration_rate_per_minute": 10_000,
                "qa_question_rate_per_minute": 10_000,
                "qa_vote_rate_per_minute": 10_000,
            }
        ),
        dependencies=Dependencies(database=database, clock=lambda: now),
    )
    async with app.test_app():
        yield app


def test_every_route_has_an_entry_in_the_matrix(matrix_app: Quart) -> None:
    served = routes(matrix_app)
    assert sorted(served - MATRIX.keys()) == [], "routes without expected statuses"
    assert sorted(MATRIX.keys() - served) == [], "expectations for routes the app lacks"
    for key, case in MATRIX.items():
        assert set(case.expect) == set(IDENTITIES), key


def _leaks(outcome: Outcome, world: World) -> list[str]:
    """Personal data in a response to someone who is not an organiser: anyone's e-mail but the
    caller's own, and the name of any registrant but the caller's own, except an asker who
    chose to be named on a shown question (Aïcha's name is public on the Q&A board)."""
    found = []
    for person, owner in world.people:
        if owner == outcome.identity:
            continue
        if person.email and person.email in outcome.body:
            found.append(person.email)
        if person.name and person.name in outcome.body and owner != ATTENDEE:
            found.append(person.name)
    return found


@pytest.mark.reliability  # 847 requests: 25 to 55 s on a busy 2-core machine
async def test_authorisation_matrix(
    matrix_app: Quart, database: Database, now: dt.datetime
) -> None:
    started = time.perf_counter()
    world = await seed(database, now=now)
    callers = {i: await _caller(matrix_app, world, i) for i in IDENTITIES}
    assert routes(matrix_app) == MATRIX.keys()
    wrong: list[str] = []
    leaks: list[str] = []
    outcomes: list[Outcome] = []
    cases = list(VARIANTS.items()) + list(MATRIX.items())
    for (endpoint, method), case in cases:
        for identity in IDENTITIES:
            if os.environ.get("INTERNET10_AUTHZ_OBSERVE"):
                print(endpoint, method, identity, flush=True)
            outcome = await send(callers[identity], world, endpoint, method, case)
            outcomes.append(outcome)
            wanted = case.expect[identity]
            if outcome.status != wanted:
                wrong.append(
                    f"{endpoint} {method} {outcome.path} as {identity}: {outcome.status}, "
                    f"expected {wanted}: {outcome.body[:160]!r}"
                )
            if identity != ORGANISER:
                leaks.extend(f"{endpoint} as {identity}: {x}" for x in _leaks(outcome, world))
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    print(
        f"\nauthorisation matrix: ({len(MATRIX)} routes + {len(VARIANTS)} variants) x "
        f"{len(IDENTITIES)} identities = {len(outcomes)} requests; "
        f"statuses {dict(sorted(statuses.items()))}; "
        f"{len(wrong)} unexpected, {len(leaks)} leaks; {time.perf_counter() - started:.1f} s"
    )
    if os.environ.get("INTERNET10_AUTHZ_OBSERVE"):
        for line in wrong:
            print(line)
    assert wrong == []
    assert leaks == []
    assert 500 not in statuses
    seen = {(o.endpoint, o.identity): o for o in outcomes[len(VARIANTS) * len(IDENTITIES) :]}
    # The checks above can fail: the live backlog a stranger reads holds the anonymous question
    # (without its asker), and the organiser's export holds the very data searched for.
    backlog = seen["api_live.live_stream", ANON].body
    assert '"text":"Une question sans nom ?"' in backlog
    assert '"asker":null' in backlog
    export = seen["api_registrations.export_registrations", ORGANISER]
    assert {"john.doe@example.org", "Victor Anonyme"} <= set(_leaks(export, world))
    await _swaps_refused_above_are_decided_by_their_delegates(matrix_app, world)


async def _swaps_refused_above_are_decided_by_their_delegates(app: Quart, world: World) -> None:
    """Nobody in the matrix may decide the four swaps (403 even for organisers): the delegates
    they belong to can, so those 403s are about who asks, not about the swaps' state."""
    client = app.test_client()
    done = []
    for path, code in (
        ("/api/v1/swaps/{swap_accept}/accept", "KE"),
        ("/api/v1/swaps/{swap_decline}/decline", "IN"),
        ("/api/v1/swaps/{swap_withdraw}/withdraw", "NP"),
    ):
        token = world.deciders[code].api_token
        answer = await client.post(
            path.format(**world.ids), headers={"Authorization": f"Bearer {token}"}, scheme="https"
        )
        done.append((answer.status_code, (await answer.get_json())["status"]))
    assert done == [(200, "accepted"), (200, "declined"), (200, "withdrawn")]
    csrf = _csrf(await (await client.get("/login", scheme="https")).get_data(as_text=True))
    signed_in = await client.post(
        "/login",
        scheme="https",
        form={"email": world.deciders["US"].email, "password": PASSWORD, "csrf_token": csrf},
    )
    assert signed_in.status_code == 302
    csrf = _csrf(await (await client.get("/login", scheme="https")).get_data(as_text=True))
    declined = await client.post(
        "/delegate/events/{swaps}/swaps/{swap_page}/decline".format(**world.ids),
        scheme="https",
        form={"csrf_token": csrf},
    )
    assert declined.status_code == 302
    assert "done=swap-declined" in declined.headers["Location"]


class AgendaServer:
    """A loopback HTTP server that serves one agenda and counts the connections it gets."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = AGENDA_ICS.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/agenda.ics"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_agenda_urls_are_fetched_for_organisers_only(
    matrix_app: Quart, database: Database, now: dt.datetime
) -> None:
    """Previewing or importing a hub agenda by URL makes the server fetch that URL: strangers and
    staff without the right must be refused before any fetch (they could otherwise make the
    server call addresses only it reaches). Found by the matrix: the preview page and both API
    routes fetched first and checked afterwards."""
    await demo.seed(database, now=now)
    async with database.read() as db:
        hub = await db.scalar(select(Event).where(Event.kind == EventKind.HUB.value).limit(1))
        assert hub is not None
    world = World(
        staff={
            ORGANISER: await make_staff(
                database,
                "organiser@demo.internet10.test",
                Role.ORGANISER,
                now=now,
                password=PASSWORD,
            ),
            DELEGATE: await make_staff(
                database,
                "delegate.bj@demo.internet10.test",
                Role.DELEGATE,
                now=now,
                password=PASSWORD,
                chapter_code="BJ",
            ),
        }
    )
    agenda = AgendaServer()
    async with agenda as url:
        answers = []
        for identity in (ANON, DELEGATE):
            caller = await _caller(matrix_app, world, identity)
            for route in ("preview", "import"):
                api = await caller.client.post(
                    f"/api/v1/events/{hub.id}/sessions/{route}",
                    json={"url": url},
                    headers=caller.headers,
                    scheme="https",
                )
                answers.append((identity, route, api.status_code))
            page = await caller.client.post(
                f"/organiser/hubs/{hub.id}/sessions/preview",
                form={"url": url, "csrf_token": caller.csrf},
                scheme="https",
            )
            answers.append((identity, "page", page.status_code))
        fetched = agenda.connections
        assert (answers, fetched) == (
            [
                (ANON, "preview", 401),
                (ANON, "import", 401),
                (ANON, "page", 302),
                (DELEGATE, "preview", 403),
                (DELEGATE, "import", 403),
                (DELEGATE, "page", 403),
            ],
            0,
        )
        organiser = await _caller(matrix_app, world, ORGANISER)
        allowed = await organiser.client.post(
            f"/api/v1/events/{hub.id}/sessions/preview",
            json={"url": url},
            headers=organiser.headers,
            scheme="https",
        )
        assert allowed.status_code == 200, await allowed.get_data(as_text=True)
        assert [s["uid"] for s in (await allowed.get_json())["sessions"]] == ["plenary@ietf"]
        assert agenda.connections == 1
