"""The installed-app consent for YouTube against the stand-in's consent and token endpoints: the
URL, the pasted answer, the token file (0600) and a YouTube call made with it."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import re
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from integrations.google import YOUTUBE_SCOPE, BroadcastSpec, GoogleError
from integrations.google.consent import (
    Consent,
    OAuthClient,
    begin_consent,
    finish_consent,
    load_client_secrets,
)
from integrations.google.standin import GoogleStandIn
from tests.clock import Clock
from tests.google.conftest import make_youtube

pytestmark = pytest.mark.integration


@pytest.fixture
def client(standin: GoogleStandIn, tmp_path: Path) -> OAuthClient:
    return load_client_secrets(standin.write_client_secrets(tmp_path / "client_secret.json"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def allow(http: aiohttp.ClientSession, consent: Consent) -> str:
    """What the person's browser ends on after "Allow": the redirect's address."""
    async with http.get(consent.url, allow_redirects=False) as response:
        assert response.status == 302
        return response.headers["Location"]


async def finish(consent: Consent, pasted: str, token_file: Path, clock: Clock) -> None:
    """finish_consent blocks on HTTP: off the event loop, which serves the stand-in."""
    await asyncio.to_thread(finish_consent, consent, pasted, token_file, clock=clock)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_consent_url_asks_offline_youtube_access_with_pkce(
    standin: GoogleStandIn, client: OAuthClient
) -> None:
    consent = begin_consent(client)

    assert consent.url.startswith(f"{standin.auth_uri}?")
    query = query_of(consent.url)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(consent.code_verifier.encode()).digest())
    assert query == {
        "client_id": standin.client_id,
        "redirect_uri": "http://localhost",
        "response_type": "code",
        "scope": YOUTUBE_SCOPE,
        "access_type": "offline",
        "prompt": "consent",
        "state": consent.state,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    assert 43 <= len(consent.code_verifier) <= 128
    assert consent.code_verifier not in repr(consent)
    assert standin.client_secret not in repr(client)
    assert standin.requests == []  # building the URL sends nothing


async def test_pasted_address_gives_a_0600_token_file_that_youtube_uses(
    standin: GoogleStandIn,
    client: OAuthClient,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
) -> None:
    consent = begin_consent(client)
    address = await allow(http, consent)
    token_file = tmp_path / "youtube-token.json"

    await finish(consent, address, token_file, clock)

    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    stored = json.loads(token_file.read_text(encoding="utf-8"))
    assert set(stored) == {
        "token",
        "refresh_token",
        "token_uri",
        "client_id",
        "client_secret",
        "scopes",
        "expiry",
        "universe_domain",
        "account",
    }
    assert (stored["token_uri"], stored["client_id"], stored["scopes"]) == (
        standin.token_uri,
        standin.client_id,
        [YOUTUBE_SCOPE],
    )
    assert stored["expiry"] == "2031-03-14T10:29:59Z"  # the clock + expires_in 3599 s
    [exchange] = [s.body for s in standin.requests if s.path == "/token"]
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code"] == query_of(address)["code"]
    assert exchange["redirect_uri"] == "http://localhost"
    assert exchange["code_verifier"] == consent.code_verifier
    youtube = make_youtube(standin, token_file, clock)
    try:
        live = await youtube.create_live(
            "hub:1", BroadcastSpec("Hub", dt.datetime(2031, 4, 1, tzinfo=dt.UTC))
        )
    finally:
        await youtube.aclose()
    assert live.broadcast_id in standin.broadcasts


@pytest.mark.parametrize(
    "form",
    [
        lambda address, code: f"  {code}\n",  # the bare code
        lambda address, code: address.removeprefix("http://"),  # copied without the scheme
        lambda address, code: "?" + address.split("?", 1)[1],  # the query alone
    ],
    ids=["bare code", "no scheme", "query"],
)
async def test_other_pasted_forms_are_accepted(
    client: OAuthClient,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
    form: Callable[[str, str], str],
) -> None:
    consent = begin_consent(client)
    address = await allow(http, consent)

    await finish(consent, form(address, query_of(address)["code"]), tmp_path / "token.json", clock)

    assert stat.S_IMODE((tmp_path / "token.json").stat().st_mode) == 0o600


async def test_an_older_world_readable_token_file_is_replaced_by_a_0600_one(
    client: OAuthClient, http: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> None:
    token_file = tmp_path / "token.json"
    token_file.write_text("{}", encoding="utf-8")
    token_file.chmod(0o644)
    consent = begin_consent(client)
    address = await allow(http, consent)
    previous_umask = os.umask(0)  # the most permissive umask cannot widen it either
    try:
        await finish(consent, address, token_file, clock)
    finally:
        os.umask(previous_umask)

    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert json.loads(token_file.read_text(encoding="utf-8"))["refresh_token"]
    assert sorted(os.listdir(tmp_path)) == ["client_secret.json", "token.json"]  # no temporaries


async def test_address_from_another_attempt_is_refused(
    standin: GoogleStandIn,
    client: OAuthClient,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
) -> None:
    old = begin_consent(client)
    address = await allow(http, old)
    new = begin_consent(client)

    with pytest.raises(GoogleError, match="another consent attempt"):
        await finish(new, address, tmp_path / "token.json", clock)

    assert not (tmp_path / "token.json").exists()
    assert [s.path for s in standin.requests] == ["/o/oauth2/auth"]  # no exchange tried


async def test_refused_consent_is_reported(
    standin: GoogleStandIn,
    client: OAuthClient,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
) -> None:
    standin.consent_answer = "access_denied"
    consent = begin_consent(client)
    address = await allow(http, consent)

    with pytest.raises(GoogleError) as caught:
        await finish(consent, address, tmp_path / "token.json", clock)

    assert (caught.value.reason, caught.value.retryable) == ("access_denied", False)
    assert caught.value.message == "consent was not given: access_denied"


async def test_consent_without_the_youtube_box_ticked_is_refused(
    standin: GoogleStandIn,
    client: OAuthClient,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
) -> None:
    standin.consent_scopes = frozenset()  # granular consent: the person unticked YouTube
    consent = begin_consent(client)

    with pytest.raises(GoogleError, match=re.escape(f"did not grant {YOUTUBE_SCOPE}:")):
        await finish(consent, await allow(http, consent), tmp_path / "token.json", clock)

    assert not (tmp_path / "token.json").exists()


async def test_a_code_works_once_and_only_with_its_verifier(
    client: OAuthClient, http: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> None:
    consent = begin_consent(client)
    address = await allow(http, consent)
    forged = Consent(
        client=client,
        url=consent.url,
        state=consent.state,
        code_verifier="x" * 64,
        scopes=consent.scopes,
    )

    with pytest.raises(GoogleError) as wrong_verifier:
        await finish(forged, address, tmp_path / "token.json", clock)
    second = begin_consent(client)
    second_address = await allow(http, second)
    await finish(second, second_address, tmp_path / "token.json", clock)
    with pytest.raises(GoogleError) as reused:
        await finish(second, second_address, tmp_path / "token.json", clock)

    assert (wrong_verifier.value.status, wrong_verifier.value.reason) == (400, "invalid_grant")
    assert wrong_verifier.value.retryable is False
    assert (reused.value.status, reused.value.reason) == (400, "invalid_grant")
    assert reused.value.message == (
        "Google refused the code: HTTP 400 invalid_grant: Malformed auth code."
    )


async def test_token_endpoint_down_is_retryable(
    standin: GoogleStandIn,
    client: OAuthClient,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
) -> None:
    consent = begin_consent(client)
    address = await allow(http, consent)
    await standin.down()

    with pytest.raises(GoogleError) as caught:
        await finish(consent, address, tmp_path / "token.json", clock)

    assert (caught.value.retryable, caught.value.status) == (True, None)


def test_a_web_client_is_not_a_desktop_client(tmp_path: Path) -> None:
    secrets_file = tmp_path / "client_secret.json"
    secrets_file.write_text('{"web": {"client_id": "x", "client_secret": "y"}}', encoding="utf-8")

    with pytest.raises(GoogleError, match='"Desktop app"'):
        load_client_secrets(secrets_file)


def test_client_secrets_endpoints_can_be_overridden(tmp_path: Path) -> None:
    secrets_file = tmp_path / "client_secret.json"
    secrets_file.write_text(
        json.dumps({"installed": {"client_id": "id", "client_secret": "s"}}), encoding="utf-8"
    )

    defaults = load_client_secrets(secrets_file)
    overridden = load_client_secrets(
        secrets_file, auth_uri="http://127.0.0.1:1/auth", token_uri="http://127.0.0.1:1/token"
    )

    assert defaults == OAuthClient(
        client_id="id",
        client_secret="s",
        auth_uri="https://accounts.google.com/o/oauth2/auth",
        token_uri="https://oauth2.googleapis.com/token",
        redirect_uri="http://localhost",
    )
    assert (overridden.auth_uri, overridden.token_uri) == (
        "http://127.0.0.1:1/auth",
        "http://127.0.0.1:1/token",
    )
