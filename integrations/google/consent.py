"""The installed-app OAuth consent YouTube needs (its API refuses service accounts): a person
who owns the channel opens a consent URL, allows access, and pastes back what Google gives;
we exchange it for tokens and store the refresh token in a file only its owner can read.

Google retired the copy-the-code-from-the-page flow (``urn:ietf:wg:oauth:2.0:oob``) in 2022:
desktop clients now redirect to a loopback address (``http://localhost``). Nothing needs to
listen there: the browser shows an error page, and its address bar holds the code. So
``finish_consent`` accepts either that whole address (whose ``state`` is checked) or the bare
code. PKCE (S256) binds the code to this attempt.

Both functions are synchronous (one short HTTP exchange): a command line calls them directly,
async code through ``asyncio.to_thread``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

import httplib2  # type: ignore[import-untyped]  # ships no type information
from google.oauth2 import credentials as user_account

from integrations.google import YOUTUBE_SCOPE, GoogleError
from integrations.google.credentials import (
    GOOGLE_TOKEN_URI,
    make_user_credentials,
    read_json,
    write_token_file,
)
from integrations.google.transport import Clock, utc_now

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
DEFAULT_REDIRECT_URI = "http://localhost"


@dataclass(frozen=True)
class OAuthClient:
    """A Google Cloud OAuth client of type "Desktop app"."""

    client_id: str
    client_secret: str = field(repr=False)
    auth_uri: str = GOOGLE_AUTH_URI
    token_uri: str = GOOGLE_TOKEN_URI
    redirect_uri: str = DEFAULT_REDIRECT_URI


def load_client_secrets(
    path: str | os.PathLike[str], *, auth_uri: str | None = None, token_uri: str | None = None
) -> OAuthClient:
    """The ``client_secret_....json`` Google's console downloads for a desktop client
    (``{"installed": {...}}``). ``auth_uri`` and ``token_uri`` replace the file's (the
    stand-in's endpoints in tests and the demo)."""
    data = read_json(path, "OAuth client secrets file")
    installed = data.get("installed")
    if not isinstance(installed, dict):
        raise GoogleError(
            f'{path} is not a desktop-app OAuth client (no "installed" section): create an '
            'OAuth client ID of type "Desktop app" and download its JSON',
            retryable=False,
        )
    if not installed.get("client_id") or not installed.get("client_secret"):
        raise GoogleError(f"{path} lacks client_id or client_secret", retryable=False)
    redirect_uris = installed.get("redirect_uris") or [DEFAULT_REDIRECT_URI]
    return OAuthClient(
        client_id=str(installed["client_id"]),
        client_secret=str(installed["client_secret"]),
        auth_uri=auth_uri or str(installed.get("auth_uri") or GOOGLE_AUTH_URI),
        token_uri=token_uri or str(installed.get("token_uri") or GOOGLE_TOKEN_URI),
        redirect_uri=str(redirect_uris[0]),
    )


@dataclass(frozen=True)
class Consent:
    """One consent attempt: ``url`` to open; ``state`` and ``code_verifier`` to finish it."""

    client: OAuthClient
    url: str
    state: str
    code_verifier: str = field(repr=False)
    scopes: tuple[str, ...]


def begin_consent(client: OAuthClient, *, scopes: tuple[str, ...] = (YOUTUBE_SCOPE,)) -> Consent:
    """The consent URL: offline access (a refresh token), the consent screen shown every time
    (Google sends a refresh token only then), PKCE S256."""
    state = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)  # 64 characters, within PKCE's 43..128
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "access_type": "offline",
        "prompt": "consent",
        "state": state,
        "code_challenge": challenge.decode("ascii").rstrip("="),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in client.auth_uri else "?"
    return Consent(
        client=client,
        url=f"{client.auth_uri}{separator}{urlencode(query)}",
        state=state,
        code_verifier=verifier,
        scopes=tuple(scopes),
    )


def _code_from(pasted: str, state: str) -> str:
    """The authorization code from the redirected address (checked against ``state``) or as
    pasted bare."""
    pasted = pasted.strip()
    if not pasted:
        raise GoogleError("nothing was pasted", retryable=False)
    if "=" not in pasted:  # Google's codes never hold one; addresses and queries do
        return pasted
    query_string = pasted.split("?", 1)[1] if "?" in pasted else pasted
    query = {k: v[0] for k, v in parse_qs(query_string.split("#", 1)[0]).items()}
    if query.get("error"):
        raise GoogleError(
            f"consent was not given: {query['error']}", reason=query["error"], retryable=False
        )
    if query.get("state") != state:
        raise GoogleError(
            "this address comes from another consent attempt (its state does not match): "
            "open the new URL",
            retryable=False,
        )
    if not query.get("code"):
        raise GoogleError("the pasted address holds no code", retryable=False)
    return query["code"]


def finish_consent(
    consent: Consent,
    pasted: str,
    token_file: str | os.PathLike[str],
    *,
    timeout: float = 30,
    clock: Clock = utc_now,
) -> user_account.Credentials:
    """Exchange the pasted code for tokens and write ``token_file`` (mode 0600, replacing any
    older file). Raises ``GoogleError``: refused codes, consent without every scope asked for,
    no refresh token."""
    client = consent.client
    form = {
        "grant_type": "authorization_code",
        "code": _code_from(pasted, consent.state),
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": client.redirect_uri,
        "code_verifier": consent.code_verifier,
    }
    http = httplib2.Http(timeout=timeout)
    try:
        response, content = http.request(
            client.token_uri,
            "POST",
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except (httplib2.HttpLib2Error, OSError) as exc:
        raise GoogleError(f"Google's token endpoint unreachable: {exc}", retryable=True) from exc
    finally:
        http.close()
    status = int(response.status)
    try:
        data = json.loads(content.decode("utf-8"))
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status != 200:
        error = str(data.get("error") or "") or None
        detail = data.get("error_description") or response.reason
        raise GoogleError(
            f"Google refused the code: HTTP {status} {error}: {detail}",
            reason=error,
            status=status,
            retryable=status == 429 or status >= 500,
        )
    granted = set(str(data.get("scope") or "").split())
    missing = [s for s in consent.scopes if s not in granted]
    if missing:
        raise GoogleError(
            f"the consent did not grant {' '.join(missing)}: allow every access asked for",
            retryable=False,
        )
    if not data.get("refresh_token") or not data.get("access_token"):
        raise GoogleError(
            "Google sent no refresh token: remove this app's access from the Google account "
            "(myaccount.google.com/permissions) and consent again",
            retryable=False,
        )
    lifetime = dt.timedelta(seconds=int(data.get("expires_in") or 0))
    credentials = make_user_credentials(
        token=str(data["access_token"]),
        refresh_token=str(data["refresh_token"]),
        token_uri=client.token_uri,
        client_id=client.client_id,
        client_secret=client.client_secret,
        scopes=list(consent.scopes),
        # google-auth keeps expiries as naive UTC
        expiry=(clock() + lifetime).astimezone(dt.UTC).replace(tzinfo=None),
    )
    write_token_file(token_file, credentials)
    return credentials
