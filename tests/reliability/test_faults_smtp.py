"""Fault 4: the mail server down while the confirmation mails of a wave of registrations go out.

A real SMTP server (aiosmtpd) takes the first batch, then stops for 20 minutes of the worker's
clock (connections refused), then accepts connections and never answers (a hung server; the
sender's timeout) and comes back. Expected: the mail jobs wait for it with growing delays and
spend no attempt on the outage (a long outage must not exhaust them), none fails, and once it is
back each person gets their mail exactly once."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
from collections import Counter
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from integrations.mail.smtp import SMTPMailer
from internet10.db import Database
from internet10.jobs.gate import SPREAD_SECONDS
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import Job
from internet10.settings import Settings
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import Staff
from tests.mail.conftest import Inbox
from tests.reliability.faults import Stopwatch, figures

pytestmark = [pytest.mark.reliability]

PEOPLE = 12
OUTAGE = dt.timedelta(minutes=20)  # 8 attempts' backoff is spent in about 4 minutes
MAIL = "registration.mail"


class Server:
    """An aiosmtpd server on a fixed port that can be stopped, hung and started again."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.controller: Controller | None = None
        self.hung: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.hung is not None:
            self.hung.close()
            self.hung = None

    def hang(self) -> None:
        """Accept connections and never say a word."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.hung = listener


@pytest.fixture
def server() -> Iterator[Server]:
    kept = Server(Inbox())
    kept.start()
    yield kept
    kept.stop()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"registration_rate_per_minute": 0})


async def _mail_jobs(database: Database) -> list[Job]:
    async with database.read() as db:
        rows = await db.scalars(select(Job).where(Job.kind == MAIL).order_by(Job.id))
        return list(rows.all())


async def test_smtp_down_20_minutes_then_hung_loses_no_mail_and_sends_none_twice(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    server: Server,
    now: dt.datetime,
) -> None:
    watch = Stopwatch()
    event = await create(client, organiser, I10)
    response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert response.status_code == 200
    for i in range(PEOPLE):
        person = {"name": f"P{i}", "email": f"p{i}@example.org", "country": "BJ", "language": "fr"}
        answer = await client.post(f"/api/v1/events/{event['id']}/registrations", json=person)
        assert answer.status_code == 201
    clock = Clock(now)
    mailer = SMTPMailer(server.url, "Internet10 <no-reply@internet10.test>", timeout=2)
    worker = Worker(
        database,
        build_handlers(settings, database, mailer, clock=clock),
        worker_id="w",
        clock=clock,
        batch_size=4,
    )

    assert await worker.run_pending() == 4  # the first batch goes out
    assert len(server.inbox.messages) == 4
    server.stop()  # connections refused from now on

    probes: list[dt.datetime] = []  # when a job met the closed server
    down_since = clock.now
    while clock.now - down_since < OUTAGE:
        await worker.drain()
        jobs = await _mail_jobs(database)
        failed_here = [j for j in jobs if j.last_error and "SMTP unavailable" in j.last_error]
        if failed_here and (not probes or max(j.updated_at for j in failed_here) > probes[-1]):
            probes.append(max(j.updated_at for j in failed_here))
        # On to the next job due, and the few seconds the gate spreads the others over.
        due = min(j.run_after for j in jobs if j.status == "pending")
        clock.now = max(clock.now, due) + dt.timedelta(seconds=SPREAD_SECONDS * 2)
    jobs = await _mail_jobs(database)
    assert Counter(j.status for j in jobs) == Counter({"done": 4, "pending": PEOPLE - 4})
    assert {j.attempts for j in jobs if j.status == "pending"} == {0}  # the outage spent none
    assert len(server.inbox.messages) == 4

    server.hang()  # the server is back on its port but says nothing: each try times out
    hung_tries = 0
    for _ in range(2):
        clock.now = min(j.run_after for j in await _mail_jobs(database) if j.status == "pending")
        await worker.run_pending()
        hung_tries += 1
    server.stop()
    server.start()  # back for real
    clock.now = max(j.run_after for j in await _mail_jobs(database)) + dt.timedelta(seconds=1)
    assert await worker.drain() == PEOPLE - 4

    jobs = await _mail_jobs(database)
    assert Counter(j.status for j in jobs) == Counter({"done": PEOPLE})
    assert {j.attempts for j in jobs} == {1}
    received = Counter(m["To"] for m in server.inbox.messages)
    assert received == Counter({f"p{i}@example.org": 1 for i in range(PEOPLE)})
    assert len({m["Message-ID"] for m in server.inbox.messages}) == PEOPLE
    gaps = [round((b - a).total_seconds()) for a, b in itertools.pairwise(probes)]
    # The server is tried less and less often: each probe comes once the gate reopens (after
    # 1, 2, 4 ... up to 60 s) and within the few seconds the jobs come back over, plus this
    # test's clock steps.
    closed = [min(60, 2**k) for k in range(len(gaps))]
    assert all(c <= gap <= c + 4 * SPREAD_SECONDS + 1 for c, gap in zip(closed, gaps, strict=True))
    figures(
        "SMTP down 20 min, then hung, then back",
        mails=PEOPLE,
        sent_before_the_outage=4,
        refused_connection_probes=len(probes),
        probe_gaps_seconds=gaps[:8] + (["..."] if len(gaps) > 8 else []) + gaps[-1:],
        timed_out_tries=hung_tries,
        attempts_spent_by_the_outage=0,
        jobs_failed=0,
        delivered=sum(received.values()),
        sent_twice=sum(n - 1 for n in received.values()),
        wall_seconds=watch.seconds,
    )
