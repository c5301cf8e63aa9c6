"""``internet10 google authorize`` as a person runs it, as a process under the loopback guard: it
prints the consent address, the person allows access in a browser (here: the stand-in's consent
screen answers at once) and pastes the address the browser landed on; the token file is
written 0600 and works."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from integrations.google import BroadcastSpec
from integrations.google.standin import GoogleStandIn
from tests.clock import Clock
from tests.google.conftest import make_youtube

pytestmark = [pytest.mark.e2e, pytest.mark.dbfree]

CLI = [sys.executable, "-m", "tests.guarded_cli"]
REPO = Path(__file__).resolve().parents[2]


def cli_env(standin: GoogleStandIn, folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    return env | {
        "PYTHONPATH": str(REPO),
        "INTERNET10_YOUTUBE_CLIENT_SECRETS": str(folder / "client_secret.json"),
        "INTERNET10_YOUTUBE_TOKEN_FILE": str(folder / "youtube-token.json"),
        "INTERNET10_GOOGLE_AUTH_URI": standin.auth_uri,
        "INTERNET10_GOOGLE_TOKEN_URI": standin.token_uri,
        **extra,
    }


async def authorize(env: dict[str, str], cwd: Path, answer: object) -> tuple[int, str, str]:
    """Run the command; ``answer(consent_url)`` gives what the person pastes."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "google",
        "authorize",
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    shown: list[str] = []
    url = ""
    while not shown or "paste it here" not in shown[-1]:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        if not line:
            break
        shown.append(line)
        if line.startswith("http"):
            url = line.strip()
    pasted = await answer(url)  # type: ignore[operator]
    process.stdin.write(pasted.encode() + b"\n")
    await process.stdin.drain()
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, "".join(shown) + out.decode(), err.decode()


async def browser(url: str) -> str:
    """What the address bar shows after "Allow": the redirect to the loopback address."""
    async with aiohttp.ClientSession() as session, session.get(url, allow_redirects=False) as r:
        assert r.status in (302, 303)
        return str(r.headers["Location"])


async def test_authorize_writes_a_working_token_file_readable_by_its_owner_only(
    standin: GoogleStandIn, tmp_path: Path
) -> None:
    standin.write_client_secrets(tmp_path / "client_secret.json")
    code, out, err = await authorize(cli_env(standin, tmp_path), tmp_path, browser)

    assert (code, err) == (0, "")
    assert f"\n{standin.auth_uri}?" in out
    assert "Google then sends the browser to http://localhost, which will not load" in out
    assert "The code is in the address bar." in out
    token = tmp_path / "youtube-token.json"
    assert out.rstrip().endswith(f"YouTube is authorised: the token is in {token} (mode 0600).")
    assert token.stat().st_mode & 0o777 == 0o600
    stored = json.loads(token.read_text())
    assert stored["refresh_token"]
    assert stored["token_uri"] == standin.token_uri

    # the stored token is what YouTubeLive uses, refreshed once expired
    standin.expire_tokens()
    youtube = make_youtube(standin, token, Clock(tomorrow()))
    try:
        live = await youtube.create_live(
            "event:1", BroadcastSpec(title="Hub IGF", starts_at=tomorrow())
        )
    finally:
        await youtube.aclose()
    assert live.broadcast_id in standin.broadcasts


async def test_a_pasted_bare_code_works_too(standin: GoogleStandIn, tmp_path: Path) -> None:
    standin.write_client_secrets(tmp_path / "client_secret.json")

    async def code_only(url: str) -> str:
        location = await browser(url)
        return location.split("code=", 1)[1].split("&", 1)[0]

    code, _, err = await authorize(cli_env(standin, tmp_path), tmp_path, code_only)
    assert (code, err) == (0, "")
    assert (tmp_path / "youtube-token.json").exists()


async def test_consent_refused_is_one_line_and_no_file(
    standin: GoogleStandIn, tmp_path: Path
) -> None:
    standin.write_client_secrets(tmp_path / "client_secret.json")
    standin.consent_answer = "access_denied"
    code, _, err = await authorize(cli_env(standin, tmp_path), tmp_path, browser)
    assert (code, err) == (2, "internet10: consent was not given: access_denied\n")
    assert not (tmp_path / "youtube-token.json").exists()


async def test_missing_client_secrets_setting_says_what_to_set(
    standin: GoogleStandIn, tmp_path: Path
) -> None:
    env = cli_env(standin, tmp_path, INTERNET10_YOUTUBE_CLIENT_SECRETS="")
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "google",
        "authorize",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert out == b""
    assert err.decode() == (
        "internet10: INTERNET10_YOUTUBE_CLIENT_SECRETS is missing; set it to the JSON of an "
        'OAuth client of type "Desktop app" (Google Cloud console)\n'
    )


def tomorrow() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
