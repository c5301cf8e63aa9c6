"""``internet10 demo`` without Google credentials, as a process under the loopback guard: it
starts the Google stand-in, writes throwaway credentials under var/, and the published events
reach the stand-in's calendar (read back with the real google-api-python-client) and YouTube
(the watch link on the public page opens the stand-in's broadcast)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from googleapiclient.discovery import build

from integrations.google import CALENDAR_SCOPE
from integrations.google.credentials import service_account_credentials
from internet10.cli import DEMO_CALENDAR_ID

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    env["PYTHONPATH"] = str(REPO)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.guarded_cli", "demo", "--bind", f"127.0.0.1:{port}"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the demo stopped:\n{log.read_text()}")
        try:
            return _get(f"{url}/healthz") != ""
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        _until("the demo", healthy)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()  # 97: something left loopback


def test_demo_publishes_to_the_google_standin(demo: tuple[str, Path], tmp_path: Path) -> None:
    url, log = demo
    output = log.read_text()
    found = re.search(r"Google stand-in on (http://127\.0\.0\.1:\d+) ", output)
    assert found, output
    google = found[1]
    folder = tmp_path / "var" / "google-standin"
    for name in ("service-account.json", "youtube-token.json", "client-secret.json"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600

    events = json.loads(_get(f"{url}/api/v1/events"))["events"]
    [i10] = [e for e in events if e["kind"] == "internet10"]

    def watch_link() -> str | None:
        found = re.search(
            r'<p class="livestream" data-watch><a href="([^"]+)"', _get(f"{url}/events/{i10['id']}")
        )
        return found[1] if found else None

    watch = _until("the livestream link", watch_link)
    assert watch.startswith(f"{google}/watch?v=")
    assert "Broadcast: ready" in _get(watch)

    credentials = service_account_credentials(
        folder / "service-account.json", scopes=[CALENDAR_SCOPE], token_uri=f"{google}/token"
    )
    calendar = build(
        "calendar",
        "v3",
        credentials=credentials,
        client_options={"api_endpoint": f"{google}/calendar/v3/"},
        cache_discovery=False,
        static_discovery=True,
    )

    def published() -> list[Any] | None:
        items: list[Any] = calendar.events().list(calendarId=DEMO_CALENDAR_ID).execute()["items"]
        return items if len(items) == 3 else None  # the session and the two hubs

    try:
        items = _until("the calendar", published)
    finally:
        calendar.close()
    assert sorted(item["summary"] for item in items) == sorted(e["title"] for e in events)
    assert {item["location"] for item in items} >= {f"{url}/events/{i10['id']}"}
