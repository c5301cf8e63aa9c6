"""The command line, run as a user runs it: real processes, real databases, served HTTP."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "internet10.cli"]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    env |= {"INTERNET10_DATABASE_URL": database_url, "INTERNET10_SECRET_KEY": SECRET}
    return env


def test_users_create_prints_a_working_token_last(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(
        "users", "create", "Orga@Example.org", "--role", "organiser", env=cli_env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("user orga@example.org (id ")
    token = lines[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 bits, url-safe


def test_users_create_delegate_needs_a_known_chapter(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(
        "users",
        "create",
        "d@example.org",
        "--role",
        "delegate",
        "--chapter",
        "ZZ",
        env=cli_env,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "internet10: No chapter with code 'ZZ'."


def test_bad_setting_is_one_clear_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = cli_env | {"INTERNET10_DEFAULT_LANGUAGE": "klingon"}
    result = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "internet10: configuration error: INTERNET10_DEFAULT_LANGUAGE=klingon: "
    )
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``internet10 demo`` served on a free port from an empty folder; yields (url, output)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*CLI, "demo", "--bind", f"127.0.0.1:{port}"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield url, log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()


def test_demo_serves_seeded_data_and_every_login_link_works(demo: tuple[str, str]) -> None:
    url, output = demo
    links = dict(
        re.findall(
            r"^  (organiser|chapter delegate|moderator|hub coordinator)\s+(\S+)$",
            output,
            re.MULTILINE,
        )
    )
    assert set(links) == {"organiser", "chapter delegate", "moderator", "hub coordinator"}
    expected_role = {
        "organiser": "organiser",
        "chapter delegate": "delegate",
        "moderator": "moderator",
        "hub coordinator": "hub-coordinator",
    }
    for who, link in links.items():
        assert link.startswith(f"{url}/login/link/")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(link, timeout=10).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        body = f"csrf_token={token.group(1)}".encode()
        landing = opener.open(link, data=body, timeout=10)
        html = landing.read().decode()
        assert landing.geturl() == f"{url}/staff"
        assert f'data-role="{expected_role[who]}"' in html

    with urllib.request.urlopen(f"{url}/api/v1/events", timeout=10) as response:  # noqa: S310
        events = json.loads(response.read())["events"]
    kinds = sorted(e["kind"] for e in events)
    assert kinds == ["hub", "hub", "internet10"]
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as response:  # noqa: S310
        assert "/api/v1/events" in json.loads(response.read())["paths"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _until(what: str, check: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = check()  # type: ignore[operator]
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_demo_journey_register_join_the_standin_room_and_appear_in_attendance(
    demo: tuple[str, str],
) -> None:
    url, output = demo
    assert "Zoom stand-in on http://127.0.0.1:" in output
    with urllib.request.urlopen(f"{url}/api/v1/events", timeout=10) as response:  # noqa: S310
        [event] = [e for e in json.loads(response.read())["events"] if e["kind"] == "internet10"]
    body = json.dumps(
        {"name": "Aïcha Zinsou", "email": "aicha@example.bj", "country": "BJ", "language": "fr"}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}/api/v1/events/{event['id']}/registrations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        registered = json.loads(response.read())
    assert registered["status"] == "confirmed"
    token = registered["access_token"]

    # Join redirects to the personal link once the worker has added the registrant.
    no_redirect = urllib.request.build_opener(_NoRedirect)

    def personal_link() -> str | None:
        try:
            no_redirect.open(f"{url}/join/{token}", timeout=10)
        except urllib.error.HTTPError as exc:
            if exc.code in (302, 303):
                return str(exc.headers["Location"])
        return None

    room = str(_until("the personal join link", personal_link))
    assert room.startswith("http://127.0.0.1:")
    assert "/w/" in room
    with urllib.request.urlopen(room, timeout=10) as response:  # noqa: S310 - the stand-in
        assert response.status == 200
        assert "Aïcha Zinsou" in response.read().decode()

    links = dict(re.findall(r"^  (organiser)\s+(\S+)$", output, re.MULTILINE))
    jar = http.cookiejar.CookieJar()
    organiser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = organiser.open(links["organiser"], timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    organiser.open(links["organiser"], data=f"csrf_token={csrf[1]}".encode(), timeout=10)

    def attended() -> dict[str, object] | None:
        with organiser.open(f"{url}/api/v1/events/{event['id']}/attendance", timeout=10) as r:
            figures: dict[str, object] = json.loads(r.read())
        return figures if figures["present_now"] == 1 else None

    figures = _until("the attendance", attended)
    assert isinstance(figures, dict)
    assert figures["attended"] == 0  # not yet: one minute in the room counts
    [interval] = figures["intervals"]  # type: ignore[misc]
    assert interval["registration_id"] == registered["id"]
    assert interval["name"] == "Aïcha Zinsou"
    assert interval["source"] == "zoom"
