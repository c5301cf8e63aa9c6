"""Registration API: register (exact under bursts, idempotent), see and cancel one's place,
organisers' summary, list, export and restore."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from quart import Blueprint, Response, request
from quart_schema import validate_request, validate_response

from internet10.api.schemas import ErrorBody, Line, Strict, iso_utc
from internet10.errors import NotAuthenticated
from internet10.models import Registration
from internet10.ratelimit import Limit, enforce
from internet10.services import idempotency
from internet10.services import registration as service
from internet10.services.auth import Principal
from internet10.web import bearer_token, current_principal, state

blueprint = Blueprint("api_registrations", __name__, url_prefix="/api/v1")

Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
Email = Annotated[str, Field(min_length=3, max_length=320)]
ChapterCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class RegistrationIn(Strict):
    name: Line
    email: Email
    country: Country = Field(description="ISO 3166-1 alpha-2 code, e.g. BJ")
    language: Literal["fr", "en"]
    chapter: ChapterCode | None = None
    mode: Literal["online", "in_person"] = "online"


class RegistrationCreated(BaseModel):
    id: int
    status: str
    waitlist_position: int | None
    access_token: str
    personal_url: str


class RegistrationOut(BaseModel):
    id: int
    event_id: int
    name: str
    country: str
    language: str
    mode: str
    status: str
    waitlist_position: int | None
    created_at: str


class SummaryOut(BaseModel):
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int
    seats: int | None
    in_person_confirmed: int


class CancelOut(BaseModel):
    id: int
    status: str


def personal_url(token: str) -> str:
    return f"{state().settings.base_url_str}/me/{token}"


def client_address() -> str:
    return request.remote_addr or "unknown"


@blueprint.post("/events/<int:event_id>/registrations")
@validate_request(RegistrationIn)
@validate_response(RegistrationCreated, 201)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
@validate_response(ErrorBody, 429)
async def register(event_id: int, data: RegistrationIn) -> tuple[dict[str, object], int]:
    """Register for an event: confirmed while places remain, then waitlisted in arrival order.

    Send an ``Idempotency-Key`` header to make retries safe: the same key with the same body
    returns the first response again."""
    st = state()
    limit = Limit("register", st.settings.registration_rate_per_minute)
    await enforce(st.limiter, limit, client_address())
    raw_key = request.headers.get("Idempotency-Key")
    key = idempotency.check_key(raw_key) if raw_key is not None else None
    raw = await request.get_data()
    fingerprint = idempotency.request_fingerprint(raw if isinstance(raw, bytes) else raw.encode())
    scope = f"registration:{event_id}"
    applicant = service.Applicant(
        name=data.name,
        email=data.email,
        country=data.country,
        language=data.language,
        mode=data.mode,
        chapter_code=data.chapter,
    )
    try:
        async with st.db.write() as db:
            event = await service.lock_open_event(db, event_id)
            if key is not None:
                replay = await idempotency.replay(
                    db,
                    scope=scope,
                    key=key,
                    fingerprint=fingerprint,
                    secret=st.settings.secret_key,
                    now=st.now(),
                )
                if replay is not None:
                    return replay.body, replay.status_code
            done = await service.register(db, event, applicant, now=st.now())
            body: dict[str, object] = RegistrationCreated(
                id=done.registration.id,
                status=done.registration.status,
                waitlist_position=done.waitlist_position,
                access_token=done.access_token,
                personal_url=personal_url(done.access_token),
            ).model_dump()
            if key is not None:
                await idempotency.remember(
                    db,
                    scope=scope,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=201,
                    body=body,
                    secret=st.settings.secret_key,
                    now=st.now(),
                )
            return body, 201
    except service.AlreadyRegistered:
        async with st.db.write() as db:
            await service.resend_link(db, event_id, data.email, now=st.now())
        raise


async def _caller(registration_id: int) -> tuple[Registration | None, Principal | None]:
    """The attendee (by personal-link token) or the staff member (by API token) calling."""
    token = bearer_token()
    st = state()
    if token is not None:
        async with st.db.read() as db:
            try:
                return await service.by_token(db, token), None
            except NotAuthenticated:
                pass
    principal = await current_principal()
    if principal is None:
        raise NotAuthenticated("Send your personal access token as 'Authorization: Bearer …'.")
    return None, principal


@blueprint.get("/registrations/<int:registration_id>")
@validate_response(RegistrationOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def get_registration(registration_id: int) -> RegistrationOut:
    """One's own registration (personal access token), or any (organisers)."""
    attendee, principal = await _caller(registration_id)
    st = state()
    async with st.db.read() as db:
        registration = await service.visible_registration(
            db, registration_id, attendee=attendee, principal=principal
        )
        position = await service.waitlist_position(db, registration)
    return RegistrationOut(
        id=registration.id,
        event_id=registration.event_id,
        name=registration.name,
        country=registration.country,
        language=registration.language,
        mode=registration.mode,
        status=registration.status,
        waitlist_position=position,
        created_at=iso_utc(registration.created_at),
    )


@blueprint.delete("/registrations/<int:registration_id>")
@validate_response(CancelOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def cancel_registration(registration_id: int) -> CancelOut:
    """Cancel a place; the first waitlisted person is promoted and told by mail."""
    attendee, principal = await _caller(registration_id)
    st = state()
    async with st.db.write() as db:
        await service.cancel(
            db,
            registration_id,
            now=st.now(),
            token=bearer_token() if attendee is not None else None,
            principal=principal,
        )
    return CancelOut(id=registration_id, status="cancelled")


@blueprint.post("/registrations/<int:registration_id>/restore")
@validate_response(CancelOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def restore_registration(registration_id: int) -> CancelOut:
    """Give a cancelled registration its place back (organisers)."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        registration = await service.restore(db, principal, registration_id, now=st.now())
        return CancelOut(id=registration.id, status=registration.status)


@blueprint.get("/events/<int:event_id>/registrations/summary")
@validate_response(SummaryOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def registration_summary(event_id: int) -> SummaryOut:
    """Counts by status (organisers)."""
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        s = await service.summary(db, principal, event_id)
    return SummaryOut(
        capacity=s.capacity,
        confirmed=s.confirmed,
        waitlisted=s.waitlisted,
        cancelled=s.cancelled,
        seats=s.seats,
        in_person_confirmed=s.in_person_confirmed,
    )


EXPORT_COLUMNS = (
    "id",
    "status",
    "mode",
    "name",
    "email",
    "country",
    "language",
    "chapter_id",
    "created_at",
    "cancelled_at",
    "checked_in_at",
)


@blueprint.get("/events/<int:event_id>/registrations.csv")
async def export_registrations(event_id: int) -> Response:
    """The registration list as CSV (organisers): UTF-8 with a BOM so spreadsheets read accents."""
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        rows = await service.registrations_of(db, principal, event_id)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.id,
                r.status,
                r.mode,
                _cell(r.name),
                r.email,
                r.country,
                r.language,
                r.chapter_id or "",
                iso_utc(r.created_at),
                iso_utc(r.cancelled_at) if r.cancelled_at else "",
                iso_utc(r.checked_in_at) if r.checked_in_at else "",
            ]
        )
    response = Response(out.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="internet10-event-{event_id}-registrations.csv"'
    )
    return response


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas in names typed by the public (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@blueprint.post("/registrations/<int:registration_id>/links/revoke")
@validate_response(CancelOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def revoke_links(registration_id: int) -> CancelOut:
    """Revoke every personal link of a registration and e-mail a fresh one (holder or
    organisers): the old links stop working at once."""
    attendee, principal = await _caller(registration_id)
    st = state()
    async with st.db.write() as db:
        await service.replace_links(
            db, registration_id, now=st.now(), holder=attendee, principal=principal
        )
        registration = await db.get(Registration, registration_id)
        assert registration is not None  # replace_links found it
        return CancelOut(id=registration_id, status=registration.status)
