"""The organisers' failed-jobs page: a mail the SMTP server refused for good is listed with the
server's reason, and a Retry sends it once the server accepts it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.db import Database
from internet10.models import Job, Role
from internet10.settings import Settings
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff, make_staff
from tests.mail.conftest import Inbox, _free_port
from tests.mail.test_registration_mail import published, register, sent, worker
from tests.pages.test_pages import csrf_from

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


class RefusingInbox(Inbox):
    """Answers DATA with a permanent refusal while ``refusing`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            return f"554 5.7.1 <{envelope.rcpt_tos[0]}>: message refused"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[str, RefusingInbox]]:
    inbox = RefusingInbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", inbox
    controller.stop()


async def sign_in(https: HTTPSClient, email: str) -> str:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return token


async def failed_jobs(database: Database) -> list[Job]:
    async with database.read() as db:
        rows = await db.scalars(select(Job).where(Job.status == "failed").order_by(Job.id))
        return list(rows.all())


async def test_refused_mail_is_listed_with_the_smtp_reason_and_retried_from_the_page(
    client: Client,
    https: HTTPSClient,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    refusing_smtp: tuple[str, RefusingInbox],
) -> None:
    url, inbox = refusing_smtp
    event = await published(client, organiser)
    awa = await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    run = worker(settings, database, url, Clock(now))
    assert await run.drain() == 1
    [job] = await failed_jobs(database)
    assert (job.kind, job.payload, job.attempts) == (
        "registration.mail",
        {"registration_id": awa["id"], "kind": "confirmed"},
        1,
    )
    assert job.last_error == "PermanentJobError: SMTP 554: 5.7.1 <awa@example.bj>: message refused"

    csrf = await sign_in(https, organiser.email)
    html = await (await https.get("/organiser/jobs?lang=fr")).get_data(as_text=True)
    assert "<h1>Tâches en échec</h1>" in html
    assert f'<tr data-job="{job.id}">' in html
    assert "<td><code>registration.mail</code></td>" in html
    assert "<td>1 / 8</td>" in html
    assert (
        '<code class="error">PermanentJobError: SMTP 554: 5.7.1 &lt;awa@example.bj&gt;: '
        "message refused</code>"
    ) in html
    assert "<awa@example.bj>" not in html
    assert "28 nov. 2026, 09:00:00 UTC</time>" in html
    assert f'action="/organiser/jobs/{job.id}/retry"' in html
    assert "Relancer" in html

    inbox.refusing = False
    retried = await https.post(f"/organiser/jobs/{job.id}/retry", form={"csrf_token": csrf})
    assert retried.status_code == 302
    assert retried.headers["Location"] == f"/organiser/jobs?done=retried&job={job.id}"
    after = await (await https.get(retried.headers["Location"] + "&lang=fr")).get_data(as_text=True)
    assert f"La tâche n° {job.id} est de nouveau dans la file d’attente." in after
    assert "Aucune tâche en échec." in after
    assert await run.drain() == 1
    assert sent(inbox) == [("awa@example.bj", "Inscription confirmée : Internet10 2026")]
    assert await failed_jobs(database) == []
    again = await https.post(f"/organiser/jobs/{job.id}/retry", form={"csrf_token": csrf})
    assert again.headers["Location"] == f"/organiser/jobs?done=gone&job={job.id}"
    gone = await (await https.get(again.headers["Location"] + "&lang=en")).get_data(as_text=True)
    assert f"Job #{job.id} is no longer failed: nothing to retry." in gone
    assert await run.drain() == 0


async def test_failed_jobs_page_in_english_lists_the_newest_failure_first(
    client: Client,
    https: HTTPSClient,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    refusing_smtp: tuple[str, RefusingInbox],
) -> None:
    url, _inbox = refusing_smtp
    event = await published(client, organiser)
    clock = Clock(now)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    await worker(settings, database, url, clock).drain()
    await register(client, event["id"], "John", "john@example.org", "en")
    clock.now = now + dt.timedelta(minutes=1)
    await worker(settings, database, url, clock).drain()
    first, second = await failed_jobs(database)

    await sign_in(https, organiser.email)
    html = await (await https.get("/organiser/jobs?lang=en")).get_data(as_text=True)
    assert "<h1>Failed jobs</h1>" in html
    assert html.index(f'<tr data-job="{second.id}">') < html.index(f'<tr data-job="{first.id}">')
    assert "&lt;john@example.org&gt;" in html
    assert "Nov 28, 2026, 9:01:00\u202fAM UTC</time>" in html
    assert f'Retry <span class="sr">#{first.id}</span>' in html


async def test_failed_jobs_page_is_for_organisers(
    client: Client,
    https: HTTPSClient,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    refusing_smtp: tuple[str, RefusingInbox],
) -> None:
    url, _inbox = refusing_smtp
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    await worker(settings, database, url, Clock(now)).drain()
    [job] = await failed_jobs(database)

    anonymous = await https.get("/organiser/jobs")
    assert (anonymous.status_code, anonymous.headers["Location"]) == (302, "/login")
    csrf = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    posted = await https.post(f"/organiser/jobs/{job.id}/retry", form={"csrf_token": csrf})
    assert (posted.status_code, posted.headers["Location"]) == (302, "/login")

    await make_staff(
        database,
        "mod@example.org",
        Role.MODERATOR,
        now=now,
        password=PASSWORD,
        event_id=event["id"],
    )
    csrf = await sign_in(https, "mod@example.org")
    refused = await https.get("/organiser/jobs?lang=fr")
    assert refused.status_code == 403
    assert "<h1>Accès refusé</h1>" in await refused.get_data(as_text=True)
    assert (
        await https.post(f"/organiser/jobs/{job.id}/retry", form={"csrf_token": csrf})
    ).status_code == 403
    assert [j.id for j in await failed_jobs(database)] == [job.id]


async def test_retry_without_csrf_token_is_refused(
    client: Client,
    https: HTTPSClient,
    organiser: Staff,
    database: Database,
    now: dt.datetime,
    settings: Settings,
    refusing_smtp: tuple[str, RefusingInbox],
) -> None:
    url, _inbox = refusing_smtp
    event = await published(client, organiser)
    await register(client, event["id"], "Awa", "awa@example.bj", "fr")
    await worker(settings, database, url, Clock(now)).drain()
    [job] = await failed_jobs(database)
    await sign_in(https, organiser.email)
    assert (await https.post(f"/organiser/jobs/{job.id}/retry")).status_code == 400
    forged = await https.post(f"/organiser/jobs/{job.id}/retry", form={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert [j.id for j in await failed_jobs(database)] == [job.id]


async def test_no_failed_job_says_so(https: HTTPSClient, organiser: Staff) -> None:
    await sign_in(https, organiser.email)
    html = await (await https.get("/organiser/jobs?lang=en")).get_data(as_text=True)
    assert '<tr><td colspan="7">No failed job.</td></tr>' in html
