"""The loopback guard trips on anything that would leave the machine, lets loopback through, and
fails a test even when a library swallowed the error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import aiohttp
import pytest

from integrations.google import GoogleError
from integrations.google.adapter import GoogleCalendar
from integrations.google.standin import GoogleStandIn
from tests.google.conftest import CALENDAR_ID
from tests.netguard import LoopbackGuard, NonLoopbackConnection, loopback_only

pytestmark = pytest.mark.integration

TEST_NET = "192.0.2.1"  # RFC 5737 documentation address: routes nowhere, and is never tried


def test_connect_outside_loopback_trips(loopback_guard: LoopbackGuard) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(NonLoopbackConnection, match=r"connect to \('192\.0\.2\.1', 443\)"),
    ):
        sock.connect((TEST_NET, 443))
    with pytest.raises(NonLoopbackConnection):  # resolving even a literal address trips first
        socket.create_connection((TEST_NET, 443), timeout=1)

    assert loopback_guard.attempts == [
        "connect to ('192.0.2.1', 443)",
        "getaddrinfo('192.0.2.1')",
    ]
    loopback_guard.attempts.clear()


def test_name_lookup_trips_before_any_dns_query(loopback_guard: LoopbackGuard) -> None:
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("oauth2.googleapis.com", 443)
    with pytest.raises(NonLoopbackConnection):
        socket.gethostbyname("www.youtube.com")

    assert loopback_guard.attempts == [
        "getaddrinfo('oauth2.googleapis.com')",
        "gethostbyname('www.youtube.com')",
    ]
    loopback_guard.attempts.clear()


def test_udp_sendto_outside_loopback_trips(loopback_guard: LoopbackGuard) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        pytest.raises(NonLoopbackConnection),
    ):
        udp.sendto(b"x", ("8.8.8.8", 53))

    assert loopback_guard.attempts == ["sendto to ('8.8.8.8', 53)"]
    loopback_guard.attempts.clear()


async def test_aiohttp_to_an_outside_address_trips(loopback_guard: LoopbackGuard) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(NonLoopbackConnection):
            await http.get(f"http://{TEST_NET}/")

    assert loopback_guard.attempts == [f"connect to ('{TEST_NET}', 80)"]
    loopback_guard.attempts.clear()


async def test_real_adapter_left_at_google_defaults_trips_in_its_worker_thread(
    standin: GoogleStandIn, tmp_path: Path, loopback_guard: LoopbackGuard
) -> None:
    """A key file whose token endpoint is Google's, and Google's API endpoint: the very first
    call would reach out, from a worker thread. The guard stops it there."""
    info = standin.service_account_info() | {"token_uri": "https://oauth2.googleapis.com/token"}
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(info), encoding="utf-8")
    calendar = GoogleCalendar(key_file)
    try:
        with pytest.raises(NonLoopbackConnection):
            await calendar.delete_event(CALENDAR_ID, "abcdef")
    finally:
        await calendar.aclose()

    assert loopback_guard.attempts == ["getaddrinfo('oauth2.googleapis.com')"]
    loopback_guard.attempts.clear()


def test_swallowed_attempt_still_fails_verification() -> None:
    with (
        pytest.raises(NonLoopbackConnection, match=r"getaddrinfo\('example\.org'\)"),
        loopback_only(),
        contextlib.suppress(Exception),  # what a careless library does
    ):
        socket.getaddrinfo("example.org", 80)


async def test_loopback_passes(standin: GoogleStandIn, loopback_guard: LoopbackGuard) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.base_url}/watch?v=nothing") as response:
            assert response.status == 404
        async with http.get(
            f"http://localhost:{standin.port}/watch?v=nothing"
        ) as response:  # the name localhost too
            assert response.status == 404
    with socket.create_connection(("127.0.0.1", standin.port), timeout=1):
        pass

    assert loopback_guard.attempts == []


def test_unix_sockets_and_binding_pass(tmp_path: Path, loopback_guard: LoopbackGuard) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
    assert socket.getaddrinfo(None, 0, flags=socket.AI_PASSIVE)
    assert socket.getaddrinfo("::1", 0)

    assert loopback_guard.attempts == []


async def test_guard_is_removed_after_use() -> None:
    before = socket.socket.connect
    guard = LoopbackGuard()
    guard.install()
    assert socket.socket.connect is not before
    guard.uninstall()
    guard.uninstall()  # twice is harmless

    assert socket.socket.connect is before
    await asyncio.sleep(0)


def test_unreachable_is_not_what_the_guard_raises() -> None:
    """The guard's error is not an OSError: an HTTP client that maps OSErrors to "retry later"
    (ours maps them to a retryable GoogleError) cannot mistake it for an outage."""
    assert not issubclass(NonLoopbackConnection, OSError)
    assert not issubclass(NonLoopbackConnection, GoogleError)
