"""The application factory: ``create_app(settings, dependencies=...)``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, Request, Response, g, render_template, request
from quart_auth import QuartAuth
from quart_babel import Babel
from quart_schema import QuartSchema, RequestSchemaValidationError, hide
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, NotFound

from internet10 import __doc__ as about
from internet10 import access, assets, compression
from internet10.api import attendance as api_attendance
from internet10.api import events as api_events
from internet10.api import health
from internet10.api import hubs as api_hubs
from internet10.api import live as api_live
from internet10.api import metrics as api_metrics
from internet10.api import planning as api_planning
from internet10.api import qa as api_qa
from internet10.api import registrations as api_registrations
from internet10.api import running as api_running
from internet10.api import slots as api_slots
from internet10.api import webhooks as api_webhooks
from internet10.api.openapi import APIDocument
from internet10.api.schemas import unstorable_text
from internet10.broker import Broker, end_streams_on_signals
from internet10.db import Database
from internet10.errors import DomainError, ValidationFailed
from internet10.pages import attendance as attendance_pages
from internet10.pages import attendee as attendee_pages
from internet10.pages import booking as booking_pages
from internet10.pages import checkin as checkin_pages
from internet10.pages import feeds, hubs, mailbox, moderation, organiser, public, staff
from internet10.pages import jobs as jobs_pages
from internet10.pages import planning as planning_pages
from internet10.pages import qa as qa_pages
from internet10.pages import registrations as registration_pages
from internet10.pages.csrf import check_csrf, csrf_token
from internet10.ratelimit import RedisLimiter
from internet10.settings import Settings
from internet10.state import AppState, Dependencies, build_mailer
from internet10.web import LANG_COOKIE, LANGUAGES, TZ_COOKIE, select_language, viewer_zone

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1

ROOT = Path(__file__).resolve().parent
TEMPLATES = ROOT.parent / "templates"
TRANSLATIONS = ROOT / "translations"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# The interactive API docs page loads its viewer from a CDN; it is a developer tool, not a page
# our attendees open, so it gets a looser policy of its own.
DOCS_PATHS = ("/docs", "/redocs", "/scalar")
PAGE_BLUEPRINTS = frozenset(
    {
        "public",
        "staff",
        "moderation",
        "feeds",
        "hubs",
        "mailbox",
        "organiser",
        "booking",
        "planning",
        "jobs",
        "attendee",
        "checkin",
        "registrations",
        "qa",
        "attendance",
    }
)


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/webhooks/")) or path in (
        "/openapi.json",
        "/healthz",
        "/readyz",
    )


SHAPE_ERRORS = frozenset({"model_type", "dict_type", "model_attributes_type", "json_invalid"})


def _pydantic_errors(exc: RequestSchemaValidationError) -> tuple[bool, str | None, str]:
    """(is the body itself malformed, the field at fault, a message naming it)."""
    error = exc.validation_error
    errors = getattr(error, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            first = items[0]
            loc = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
            msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
            malformed = not loc and first.get("type") in SHAPE_ERRORS
            return malformed, loc or None, f"{loc}: {msg}" if loc else msg
    return True, None, "The request body is not a JSON object of the expected shape."


class JSONRequest(Request):
    """Unparseable JSON is the same error as a body of the wrong shape: 400 ``MALFORMED_BODY``,
    whichever route reads it (Quart's default is a bare 400 ``BAD_REQUEST``)."""

    def on_json_loading_failed(self, error: Exception) -> Any:
        raise DomainError(
            f"The request body is not valid JSON: {error}"[:300], code="MALFORMED_BODY"
        )

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            data = await super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:  # json's parser recurses once per level
            raise DomainError(
                "The request body is nested too deeply.", code="MALFORMED_BODY"
            ) from None
        unstorable = unstorable_text(data)
        if unstorable is not None:
            field, problem = unstorable
            if not field:
                raise DomainError(f"The request body {problem}.", code="MALFORMED_BODY")
            raise ValidationFailed(f"{field}: {problem}", field=field)
        return data


def create_app(settings: Settings, *, dependencies: Dependencies | None = None) -> Quart:
    deps = dependencies or Dependencies()
    app = Quart(__name__, template_folder=str(TEMPLATES), static_folder=str(ROOT / "static"))
    app.request_class = JSONRequest
    compression.install(app)  # first: it then runs after every other after_request function
    assets.install(app, ROOT / "static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies and not settings.demo,
        QUART_AUTH_COOKIE_SECURE=settings.secure_cookies and not settings.demo,
        QUART_AUTH_COOKIE_SAMESITE="Lax",
        QUART_AUTH_COOKIE_HTTP_ONLY=True,
        QUART_AUTH_MODE="cookie",
        QUART_SCHEMA_CONVERT_CASING=False,
    )
    st = AppState(settings=settings, dependencies=deps)
    app.extensions["internet10"] = st

    QuartAuth(app)
    QuartSchema(
        app,
        info={"title": "Internet10 API", "version": "1", "description": (about or "").strip()},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        openapi_provider_class=APIDocument,
    )
    Babel(
        app,
        default_locale=settings.default_language,
        default_translation_directories=str(TRANSLATIONS),
        default_timezone="UTC",
        locale_selector=select_language,
    )
    app.jinja_env.globals.update(csrf_token=csrf_token, languages=LANGUAGES, tz=ZoneInfo)
    app.jinja_env.autoescape = True

    access.install(app, st)  # before the app's own hooks: they all see the request id
    for bp in (
        health.blueprint,
        api_metrics.blueprint,
        api_events.blueprint,
        api_running.blueprint,
        api_live.blueprint,
        api_qa.blueprint,
        api_registrations.blueprint,
        api_hubs.blueprint,
        public.blueprint,
        staff.blueprint,
        moderation.blueprint,
        feeds.blueprint,
        hubs.blueprint,
        mailbox.blueprint,
        organiser.blueprint,
        api_slots.blueprint,
        booking_pages.blueprint,
        api_planning.blueprint,
        planning_pages.blueprint,
        jobs_pages.blueprint,
        attendee_pages.blueprint,
        checkin_pages.blueprint,
        registration_pages.blueprint,
        qa_pages.blueprint,
        api_webhooks.blueprint,
        api_attendance.blueprint,
        attendance_pages.blueprint,
    ):
        app.register_blueprint(bp)
    for endpoint, view in app.view_functions.items():
        if endpoint.split(".")[0] in PAGE_BLUEPRINTS:
            hide(view)  # HTML pages are not part of the API document
    # Quart's documented way to wrap its ASGI callable in middleware (mypy sees a method).
    app.asgi_app = api_live.StreamHandOff(app.asgi_app, st)  # type: ignore[method-assign]

    if settings.proxy_hops:
        # Behind a load balancer: the client's address and scheme from X-Forwarded-For/-Proto,
        # as set by the last ``proxy_hops`` proxies (rate limits count clients, not the proxy).
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            app.asgi_app,
            mode="legacy",
            trusted_hops=settings.proxy_hops,
        )

    restore_signals: list[Callable[[], None]] = []

    @app.before_serving
    async def _open() -> None:
        st.database = deps.database
        if st.database is None:
            st.database = Database(settings)
            st.owned.append("database")
        st.mailer = deps.mailer or build_mailer(settings)
        st.redis = deps.redis
        if st.redis is None and settings.redis_url:
            st.redis = Redis.from_url(
                settings.redis_url, socket_timeout=5, socket_connect_timeout=5
            )
            st.owned.append("redis")
        if st.redis is not None:
            st.limiter = RedisLimiter(st.redis)
        st.broker = Broker(
            st.database, heartbeat_seconds=settings.live_heartbeat_seconds, redis=st.redis
        )
        await st.broker.start()
        st.database.on_commit = st.broker.publish
        restore_signals.append(end_streams_on_signals(st.broker))

    @app.after_serving
    async def _close() -> None:
        while restore_signals:
            restore_signals.pop()()
        if st.broker is not None:
            if st.database is not None and st.database.on_commit == st.broker.publish:
                st.database.on_commit = None
            await st.broker.close()
            st.broker = None
        if "redis" in st.owned and st.redis is not None:
            await st.redis.aclose()
        if "database" in st.owned and st.database is not None:
            await st.database.dispose()
        st.owned.clear()

    @app.before_request
    async def _before() -> None:
        # An id in a URL names a database row: one outside the id columns' range names nothing
        # (404 here, never a database error later).
        for value in (request.view_args or {}).values():
            if isinstance(value, int) and not 1 <= value <= MAX_ID:
                raise NotFound()
        g.language = select_language()
        if not _is_api(request.path):
            await check_csrf()

    @app.after_request
    async def _after(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            if request.path.startswith(DOCS_PATHS) and name == "Content-Security-Policy":
                continue
            response.headers.setdefault(name, value)
        asked = request.args.get("lang")
        if asked in LANGUAGES and request.cookies.get(LANG_COOKIE) != asked:
            response.set_cookie(
                LANG_COOKIE,
                asked,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                httponly=True,
                secure=app.config["SESSION_COOKIE_SECURE"],
            )
        chosen_zone = request.args.get("tz")
        if chosen_zone and viewer_zone("") == chosen_zone:
            response.set_cookie(
                TZ_COOKIE,
                chosen_zone,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                secure=app.config["SESSION_COOKIE_SECURE"],
            )
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        return response

    async def _error(status: int, code: str, message: str, field: str | None = None) -> Any:
        if _is_api(request.path):
            body: dict[str, Any] = {"code": code, "message": message}
            if field:
                body["field"] = field
            return body, status
        return await render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(DomainError)
    async def _domain(exc: DomainError) -> Any:
        response = await _error(exc.status, exc.code, exc.message, exc.field)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            body, status = response
            return body, status, {"Retry-After": str(retry_after)}
        return response

    @app.errorhandler(RequestSchemaValidationError)
    async def _invalid(exc: RequestSchemaValidationError) -> Any:
        malformed, field, message = _pydantic_errors(exc)
        if malformed:
            return await _error(400, "MALFORMED_BODY", message)
        return await _error(422, "VALIDATION_ERROR", message, field)

    @app.errorhandler(UnicodeDecodeError)
    async def _undecodable(exc: UnicodeDecodeError) -> Any:
        return await _error(400, "MALFORMED_BODY", "The request body is not valid UTF-8.")

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = (exc.name or "error").upper().replace(" ", "_")
        if status == 400 and "csrf" in type(exc).__name__.lower():
            code = "CSRF_FAILED"
        return await _error(status, code, exc.description or exc.name or "Error")

    @app.errorhandler(DBAPIError)
    async def _database(exc: DBAPIError) -> Any:
        if not exc.connection_invalidated:
            return await _unexpected(exc)
        # The connection died under the request (a failover, a restart, a terminated backend):
        # its transaction rolled back, nothing of it was stored, and the pool replaces the
        # connection. Retrying is safe (with the same Idempotency-Key where the route takes one).
        log.warning("database connection lost on %s %s: %s", request.method, request.path, exc.orig)
        body, status = await _error(
            503,
            "DATABASE_UNAVAILABLE",
            "The database connection was lost; nothing was changed. Please try again.",
        )
        return body, status, {"Retry-After": "1"}

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return await _error(500, "INTERNAL_ERROR", "Something went wrong on our side.")

    return app
