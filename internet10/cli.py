"""The ``internet10`` command: demo, serve, worker, db upgrade, users create, google authorize."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as hypercorn_run
from pydantic import AnyHttpUrl
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from integrations.google import GoogleError
from integrations.google.standin import GoogleStandIn
from integrations.zoom.standin import ZoomStandIn
from internet10 import logs, metrics, migrate
from internet10.app import create_app
from internet10.broker import Broker
from internet10.db import Database
from internet10.errors import DomainError
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import Role
from internet10.services import auth
from internet10.settings import Settings, SettingsError, load_settings
from internet10.state import Dependencies, build_mailer, utcnow

DEMO_DATABASE = "sqlite+aiosqlite:///var/demo.sqlite3"
DEMO_GOOGLE_FILES = Path("var") / "google-standin"  # throwaway credentials, for the stand-in
DEMO_CALENDAR_ID = "internet10-demo@group.calendar.google.com"


def _progress(message: str) -> None:
    print(f"· {message}", flush=True)


def hypercorn_config(bind: str, workers: int = 1) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [bind]
    config.workers = workers
    config.backlog = 2048  # bursts of hundreds of simultaneous connections must not be refused
    config.accesslog = None  # the app logs each request itself (internet10.access)
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handler and format
    config.graceful_timeout = 10
    return config


async def _start_zoom_standin(settings: Settings) -> tuple[ZoomStandIn, Settings]:
    """The demo without Zoom credentials: a local Zoom stand-in, its webhooks signed to us."""
    secret = settings.zoom_webhook_secret or secrets.token_urlsafe(24)
    standin = ZoomStandIn(
        webhook_url=f"{settings.base_url_str}/webhooks/zoom", webhook_secret=secret
    )
    await standin.start()
    settings = settings.model_copy(
        update={
            "zoom_account_id": standin.account_id,
            "zoom_client_id": standin.client_id,
            "zoom_client_secret": standin.client_secret,
            "zoom_api_url": AnyHttpUrl(standin.api_url),
            "zoom_oauth_url": AnyHttpUrl(standin.oauth_url),
            "zoom_webhook_secret": secret,
        }
    )
    _progress(f"Zoom stand-in on {standin.base_url} (no INTERNET10_ZOOM_ACCOUNT_ID set)")
    return standin, settings


async def _start_google_standin(settings: Settings) -> tuple[GoogleStandIn, Settings]:
    """The demo without Google credentials: a local Google stand-in with a calendar, and
    throwaway credential files for it (a service-account key, a YouTube token, an OAuth
    client for ``internet10 google authorize``) under var/."""
    standin = GoogleStandIn()
    await standin.start()
    standin.add_calendar(DEMO_CALENDAR_ID)
    DEMO_GOOGLE_FILES.mkdir(parents=True, exist_ok=True)
    key = standin.write_service_account_file(DEMO_GOOGLE_FILES / "service-account.json")
    token = standin.write_user_token_file(DEMO_GOOGLE_FILES / "youtube-token.json")
    client = standin.write_client_secrets(DEMO_GOOGLE_FILES / "client-secret.json")
    settings = settings.model_copy(
        update={
            "google_credentials": str(key),
            "google_calendar_id": DEMO_CALENDAR_ID,
            "youtube_token_file": str(token),
            "youtube_client_secrets": str(client),
            "google_calendar_api_url": AnyHttpUrl(standin.calendar_endpoint),
            "youtube_api_url": AnyHttpUrl(standin.youtube_endpoint),
            "google_token_uri": AnyHttpUrl(standin.token_uri),
            "google_auth_uri": AnyHttpUrl(standin.auth_uri),
            "youtube_watch_url": AnyHttpUrl(standin.watch_url),
        }
    )
    _progress(
        f"Google stand-in on {standin.base_url} (no INTERNET10_GOOGLE_CREDENTIALS or "
        "INTERNET10_YOUTUBE_TOKEN_FILE set)"
    )
    return standin, settings


async def _serve(
    settings: Settings,
    bind: str,
    *,
    with_worker: bool,
    zoom_standin: bool = False,
    google_standin: bool = False,
) -> None:
    """One process serving the app; in the demo's shape, with an in-process job worker too
    (and, without Zoom or Google credentials, the local Zoom and Google stand-ins).

    SIGINT and SIGTERM stop it gracefully: Hypercorn stops accepting and finishes requests,
    and the worker gives back the jobs it holds.
    """
    standin = google = None
    if zoom_standin:
        standin, settings = await _start_zoom_standin(settings)
    if google_standin:
        google, settings = await _start_google_standin(settings)
    database = Database(settings)
    if standin is not None:
        from internet10 import demo

        queued = await demo.fresh_meetings(database, now=utcnow())
        _progress(f"{queued} meetings queued on the stand-in")
    if google is not None:
        from internet10 import demo

        queued = await demo.fresh_google(database, now=utcnow())
        _progress(f"{queued} events queued for the Google stand-in's calendar and YouTube")
    app = create_app(settings, dependencies=Dependencies(database=database))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker_task = None
    if with_worker:
        worker = Worker(
            database=database, handlers=build_handlers(settings, database, build_mailer(settings))
        )
        worker_task = asyncio.create_task(worker.run_forever(stop))
    try:
        await hypercorn_serve(app, hypercorn_config(bind), shutdown_trigger=stop.wait)
    finally:
        stop.set()
        if worker_task is not None:
            await worker_task
        await database.dispose()
        if standin is not None:
            await standin.stop()
        if google is not None:
            await google.stop()


def cmd_demo(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {"demo": True, "secure_cookies": False}
    if not os.environ.get("INTERNET10_DATABASE_URL"):
        overrides["database_url"] = DEMO_DATABASE
    if not os.environ.get("INTERNET10_BASE_URL"):
        overrides["base_url"] = f"http://{args.bind}"
    settings = load_settings(os.environ, **overrides)
    _progress(f"migrating {settings.database_url}")
    migrate.upgrade(settings.database_url)

    async def prepare() -> None:
        from internet10 import demo

        database = Database(settings)
        try:
            now = utcnow()
            seeded = await demo.seed(database, now=now)
            _progress("seeded demo data" if seeded else "demo data already present")
            links = await demo.login_links(database, settings.base_url_str, now=now)
        finally:
            await database.dispose()
        print(f"\nInternet10 demo on {settings.base_url_str}/")
        print("One-time sign-in links (valid 24 h):")
        print(f"  organiser        {links.organiser}")
        print(f"  chapter delegate {links.delegate}")
        print(f"  moderator        {links.moderator}")
        print(f"  hub coordinator  {links.hub_coordinator}")
        print("Organiser password sign-in: organiser@demo.internet10.test / internet10-demo\n")

    asyncio.run(prepare())
    if args.no_serve:
        return 0
    no_google = not (settings.google_calendar_configured or settings.youtube_configured)
    asyncio.run(
        _serve(
            settings,
            args.bind,
            with_worker=True,
            zoom_standin=not settings.zoom_configured,
            google_standin=no_google,
        )
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)
    logs.configure(settings.log_format, settings.log_level)
    if args.workers > 1:
        # The workers add up their metrics in one directory of this host (see metrics.py):
        # PROMETHEUS_MULTIPROC_DIR when given, else a private one; emptied before they start.
        given = os.environ.get(metrics.MULTIPROC_ENV)
        directory = given or tempfile.mkdtemp(prefix="internet10-metrics-")
        metrics.prepare_multiprocess_dir(directory)
        os.environ[metrics.MULTIPROC_ENV] = directory
        config = hypercorn_config(args.bind, args.workers)
        config.application_path = "internet10.asgi:app"
        try:
            hypercorn_run(config)
        finally:
            if not given:
                shutil.rmtree(directory, ignore_errors=True)
        return 0
    asyncio.run(_serve(settings, args.bind, with_worker=False))
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)
    logs.configure(settings.log_format, settings.log_level)

    async def run() -> None:
        database = Database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        redis = None
        if settings.redis_url:  # Zoom's shared pace; a Redis that hangs must not hold the jobs
            redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        broker = None
        if redis is not None:
            # Live events recorded by jobs (attendance counts from webhooks) reach the app
            # processes' streams through Redis at once, not at their next database re-read.
            broker = Broker(
                database, heartbeat_seconds=settings.live_heartbeat_seconds, redis=redis
            )
            await broker.start()
            database.on_commit = broker.publish
        worker = Worker(
            database=database,
            handlers=build_handlers(settings, database, build_mailer(settings), redis=redis),
            lease=dt.timedelta(seconds=settings.job_lease_seconds),
        )
        _progress(f"worker {worker.worker_id} running; Ctrl-C stops it")
        try:
            await worker.run_forever(stop)
        finally:
            if broker is not None:
                database.on_commit = None
                await broker.close()
            await database.dispose()
            if redis is not None:
                await redis.aclose()

    asyncio.run(run())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)
    _progress(f"upgrading {settings.database_url.split('@')[-1]} to {args.revision}")
    migrate.upgrade(settings.database_url, args.revision)
    _progress("done")
    return 0


def cmd_db_check(_args: argparse.Namespace) -> int:
    """Exit 0 when the database answers (a worker's health check); print its schema revision."""
    settings = load_settings(os.environ)

    async def run() -> str | None:
        database = Database(settings)
        try:
            async with database.read() as db:
                found = await db.scalar(text("SELECT version_num FROM alembic_version"))
                return None if found is None else str(found)
        finally:
            await database.dispose()

    try:
        revision = asyncio.run(asyncio.wait_for(run(), settings.database_timeout_seconds))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        print(f"internet10: the database does not answer: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"database answers; schema revision {revision or 'none'}")
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)

    async def run() -> auth.CreatedUser:
        database = Database(settings)
        try:
            async with database.write() as db:
                return await auth.create_user(
                    db,
                    email=args.email,
                    role=Role(args.role),
                    now=utcnow(),
                    name=args.name or "",
                    password=os.environ.get("INTERNET10_NEW_USER_PASSWORD") or None,
                    chapter_code=args.chapter,
                    event_id=args.event,
                )
        finally:
            await database.dispose()

    created = asyncio.run(run())
    print(f"user {created.email} (id {created.user_id}) has the role {args.role}")
    print("API token (shown once; send it as 'Authorization: Bearer <token>'):")
    print(created.api_token)
    return 0


def cmd_google_authorize(_args: argparse.Namespace) -> int:
    """YouTube's consent (its API refuses service accounts): print the consent address, read
    back what the browser shows, store the refresh token in INTERNET10_YOUTUBE_TOKEN_FILE."""
    from integrations.google import consent

    # this command signs nothing: it needs no INTERNET10_SECRET_KEY of its own
    unsigned = {} if os.environ.get("INTERNET10_SECRET_KEY") else {"secret_key": "-" * 32}
    settings = load_settings(os.environ, **unsigned)
    client_file, token_file = settings.youtube_client_secrets, settings.youtube_token_file
    if not client_file:
        print(
            "internet10: INTERNET10_YOUTUBE_CLIENT_SECRETS is missing; set it to the JSON of an "
            'OAuth client of type "Desktop app" (Google Cloud console)',
            file=sys.stderr,
        )
        return 2
    if not token_file:
        print(
            "internet10: INTERNET10_YOUTUBE_TOKEN_FILE is missing; set it to where the YouTube "
            "token goes (the file is written readable by its owner only)",
            file=sys.stderr,
        )
        return 2
    try:
        client = consent.load_client_secrets(
            client_file,
            auth_uri=str(settings.google_auth_uri) if settings.google_auth_uri else None,
            token_uri=str(settings.google_token_uri) if settings.google_token_uri else None,
        )
        attempt = consent.begin_consent(client)
    except GoogleError as exc:
        print(f"internet10: {exc.message}", file=sys.stderr)
        return 2
    print("1. Open this address in a browser, signed in as the owner of the YouTube channel:")
    print(f"\n{attempt.url}\n")
    print(
        f"2. Allow access. Google then sends the browser to {client.redirect_uri}, which will "
        "not load (nothing listens there): that is expected. The code is in the address bar."
    )
    print("3. Copy the whole address from the address bar (or only the code) and paste it here:")
    sys.stdout.flush()
    pasted = sys.stdin.readline()
    try:
        consent.finish_consent(attempt, pasted, token_file)
    except GoogleError as exc:
        print(f"internet10: {exc.message}", file=sys.stderr)
        return 2
    print(f"YouTube is authorised: the token is in {token_file} (mode 0600).")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Pure computation: no settings, no database. Every error is one line and exit code 2."""
    import json
    from pathlib import Path

    from internet10.services import planning
    from scheduler.errors import SchedulingError
    from scheduler.planner import plan, proposal_to_json

    day = planning.parse_date(args.date, "--date")
    params = planning.agenda_from_options(
        opening=args.opening,
        presentation=args.presentation,
        debate=args.debate,
        break_after=args.break_after,
        break_minutes=args.break_minutes,
        closing=args.closing,
    )
    try:
        chapters = planning.read_chapters_file(Path(args.chapters))
    except planning.ChaptersFileError as exc:
        print(f"internet10: {args.chapters}: {exc}", file=sys.stderr)
        return 2
    try:
        result = plan(day, args.timezone, chapters, params, top=args.top)
    except SchedulingError as exc:
        field = (exc.field or "").split("[")[0]
        where = {"chapters": args.chapters, "breaks": "--break-after"}.get(field, f"--{field}")
        print(f"internet10: {where + ': ' if field else ''}{exc.message}", file=sys.stderr)
        return 2
    if args.json:
        body = {"proposals": [proposal_to_json(p) for p in result.proposals]}
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(planning.plan_table(result, args.timezone), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="internet10", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="migrate, seed and serve a local demo (SQLite)")
    demo.add_argument("--bind", default="127.0.0.1:8000")
    demo.add_argument("--no-serve", action="store_true", help="prepare and print links only")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="serve the app with Hypercorn")
    serve.add_argument("--bind", default="127.0.0.1:8000")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run durable jobs")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    check = db_sub.add_parser("check", help="exit 0 when the database answers")
    check.set_defaults(func=cmd_db_check)

    users = sub.add_parser("users", help="staff accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser(
        "create",
        help="create a staff account and print an API token (set INTERNET10_NEW_USER_PASSWORD "
        "to give it a password)",
    )
    create.add_argument("email")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--chapter", help="chapter code (delegates)")
    create.add_argument("--event", type=int, help="event id (moderators, hub coordinators)")
    create.add_argument("--name")
    create.set_defaults(func=cmd_users_create)

    google = sub.add_parser("google", help="Google Calendar and YouTube Live")
    google_sub = google.add_subparsers(dest="google_command", required=True)
    authorize = google_sub.add_parser(
        "authorize",
        help="let Internet10 stream on a YouTube channel: prints a consent address, reads the "
        "address (or code) the browser lands on, writes INTERNET10_YOUTUBE_TOKEN_FILE (0600)",
    )
    authorize.set_defaults(func=cmd_google_authorize)

    plan = sub.add_parser(
        "plan",
        help="propose fair start times and running orders for chapters in many time zones "
        "(no database needed)",
    )
    plan.add_argument("--date", required=True, help="the event's date, YYYY-MM-DD")
    plan.add_argument(
        "--chapters",
        required=True,
        metavar="FILE",
        help='JSON list of {"code", "name", "timezone", "hours": "08:00-22:00"}',
    )
    plan.add_argument("--timezone", default="Africa/Porto-Novo", help="reference zone of the event")
    plan.add_argument("--opening", type=int, default=15, metavar="MINUTES")
    plan.add_argument("--presentation", type=int, default=15, metavar="MINUTES")
    plan.add_argument("--debate", type=int, default=8, metavar="MINUTES")
    plan.add_argument("--break-after", type=int, default=5, metavar="SLOT", help="0 means no break")
    plan.add_argument(
        "--break",
        dest="break_minutes",
        type=int,
        default=10,
        metavar="MINUTES",
        help="0 means no break",
    )
    plan.add_argument("--closing", type=int, default=15, metavar="MINUTES")
    plan.add_argument("--top", type=int, default=3, help="how many proposals, best first")
    plan.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"internet10: configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"internet10: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
