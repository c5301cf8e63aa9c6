"""A local Google stand-in: a real HTTP server on loopback that speaks the subset of Google's
OAuth, Calendar v3 and YouTube Data v3 APIs we use, with Google's shapes and error bodies, for
tests and the demo. It is not Google.

- ``POST /token``: the JWT-bearer grant of service accounts (the assertion's claims are checked,
  and its RS256 signature against the keys this stand-in issued), ``refresh_token`` and
  ``authorization_code`` (PKCE S256 checked) grants. Tokens expire after ``token_ttl`` seconds of
  the stand-in's clock; a token only opens the API its scopes name.
- ``GET /o/oauth2/auth``: the consent screen, answered at once: a redirect to the client's
  loopback ``redirect_uri`` with a code (or ``error=access_denied`` when
  ``consent_answer`` says so), as Google redirects after "Allow".
- ``/calendar/v3/calendars/{calendarId}/events``: insert, get, update, patch, delete, list.
  Deleted events stay, ``cancelled``, as on Google: their id cannot be inserted again (409
  ``duplicate``) but they can be updated back; deleting again is 410 ``deleted``.
- ``/youtube/v3/liveBroadcasts`` (insert, update, list, delete, bind, transition) and
  ``/youtube/v3/liveStreams`` (insert, list, delete). Transitions go ready -> testing -> live
  -> complete (``invalidTransition`` otherwise, ``redundantTransition`` to where it is);
  testing and live need video on the bound stream (``errorStreamInactive``): with
  ``video_arrives`` (the default) every stream receives video from its creation, as if an
  encoder pushed to it; without it, ``push_video`` starts it.
- ``GET /watch?v=ID``: a page standing for the broadcast's watch page.

Faults for tests, on the API paths only (the token and consent endpoints always answer while
up): ``fail_next`` (any status, with Google's ``reason``, optionally ``Retry-After``),
``slow``, ``down``/``up`` (connections refused), ``expire_tokens``, ``revoke_refresh_tokens``,
``advance`` (the stand-in's clock). ``requests`` records every request with its query and
body.

The service-account key the stand-in hands out is generated in memory when first asked for
(once per process) and never written anywhere but where ``write_service_account_file`` is told."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import html
import ipaddress
import itertools
import json
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.oauth2 import credentials as user_account

from integrations.google import CALENDAR_SCOPE, YOUTUBE_SCOPE
from integrations.google.credentials import make_user_credentials, write_token_file

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", str)  # whose token the request carries

# google-auth always sends this audience, whatever its token_uri (an address, not a secret)
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CALENDAR_SCOPES = frozenset({CALENDAR_SCOPE, "https://www.googleapis.com/auth/calendar"})
YOUTUBE_SCOPES = frozenset({YOUTUBE_SCOPE, "https://www.googleapis.com/auth/youtube.force-ssl"})
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CODE_TTL = 600
MAX_JWT_LIFETIME = 3600
WRITABLE_EVENT_FIELDS = frozenset(
    {
        "summary",
        "description",
        "location",
        "start",
        "end",
        "status",
        "source",
        "extendedProperties",
        "transparency",
        "visibility",
        "attendees",
        "reminders",
        "colorId",
    }
)
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FAULT_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    429: "rateLimitExceeded",
}
FAULT_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "quotaExceeded": "The request cannot be completed because you have exceeded your quota.",
    "dailyLimitExceeded": "Daily Limit Exceeded",
    "forbidden": "Forbidden",
    "backendError": "Backend Error",
}
BROADCAST_PARTS = ("snippet", "status", "contentDetails")
STREAM_PARTS = ("snippet", "cdn", "status", "contentDetails")
UPCOMING = frozenset({"created", "ready", "testStarting", "testing"})
ACTIVE = frozenset({"liveStarting", "live"})
# from -> to, when the broadcast has a monitor stream (ours always do)
TRANSITIONS = {("ready", "testing"), ("testing", "live"), ("live", "complete")}


@functools.cache
def _throwaway_key() -> rsa.RSAPrivateKey:
    """One RSA key per process for the stand-in's service account: never written by itself."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _rfc3339(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    headers: dict[str, str] | None = None,
    **extra: str,
) -> web.Response:
    """Google's error shape: ``{"error": {"code", "message", "errors": [...], "status"}}``."""
    item = {"message": message, "domain": domain, "reason": reason, **extra}
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [item],
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }
    return web.json_response(body, status=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Google's patch semantics: objects merge, ``null`` removes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass
class Seen:
    """One request: its query, and its body (JSON for the APIs, the form for ``/token``)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any = None


@dataclasses.dataclass
class _Fault:
    status: int
    reason: str
    message: str
    retry_after: str | None
    method: str | None
    path: str | None

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or request.method == self.method) and (
            self.path is None or request.path == self.path
        )


@dataclasses.dataclass
class _Token:
    expires_at: float  # on the stand-in's clock
    scopes: frozenset[str]
    principal: str  # a service account's email, or "user"


@dataclasses.dataclass
class _Code:
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    expires_at: float


class GoogleStandIn:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_ttl: int = 3600,
        video_arrives: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.token_ttl = token_ttl
        self.video_arrives = video_arrives
        self.client_id = "standin-desktop-client.apps.googleusercontent.com"
        self.client_secret = "standin-client-secret"  # noqa: S105 - a stand-in's fixed credential
        self.project_id = "standin-project"
        self.service_account_email = (
            f"internet10-calendar@{self.project_id}.iam.gserviceaccount.com"
        )
        self.channel_id = "UCstandinChannel0000000x"
        self.base_url = ""
        self.token_uri = ""
        self.auth_uri = ""
        self.calendar_endpoint = ""
        self.youtube_endpoint = ""
        self.watch_url = ""
        # what the consent screen answers: None allows; "access_denied" refuses
        self.consent_answer: str | None = None
        # the scopes the person leaves ticked on the consent screen (None: all asked for)
        self.consent_scopes: frozenset[str] | None = None
        # what tests look at
        self.requests: list[Seen] = []
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {}
        self.broadcasts: dict[str, dict[str, Any]] = {}
        self.streams: dict[str, dict[str, Any]] = {}
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}  # by service-account email
        self._tokens: dict[str, _Token] = {}
        self._refresh_tokens: dict[str, frozenset[str]] = {}
        self._codes: dict[str, _Code] = {}
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._clock_offset = 0.0
        self._etags = itertools.count(3_181_161_784_712_000)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/token", self._token)
        app.router.add_get("/o/oauth2/auth", self._consent)
        events = "/calendar/v3/calendars/{calendar_id}/events"
        app.router.add_post(events, self._insert_event)
        app.router.add_get(events, self._list_events)
        app.router.add_get(events + "/{event_id}", self._get_event)
        app.router.add_put(events + "/{event_id}", self._update_event)
        app.router.add_patch(events + "/{event_id}", self._patch_event)
        app.router.add_delete(events + "/{event_id}", self._delete_event)
        broadcasts = "/youtube/v3/liveBroadcasts"
        app.router.add_post(broadcasts, self._insert_broadcast)
        app.router.add_put(broadcasts, self._update_broadcast)
        app.router.add_get(broadcasts, self._list_broadcasts)
        app.router.add_delete(broadcasts, self._delete_broadcast)
        app.router.add_post(broadcasts + "/bind", self._bind)
        app.router.add_post(broadcasts + "/transition", self._transition)
        streams = "/youtube/v3/liveStreams"
        app.router.add_post(streams, self._insert_stream)
        app.router.add_get(streams, self._list_streams)
        app.router.add_delete(streams, self._delete_stream)
        app.router.add_get("/watch", self._watch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()
        self.base_url = f"http://{self.host}:{self.port}"
        self.token_uri = f"{self.base_url}/token"
        self.auth_uri = f"{self.base_url}/o/oauth2/auth"
        self.calendar_endpoint = f"{self.base_url}/calendar/v3/"
        self.youtube_endpoint = self.base_url
        self.watch_url = f"{self.base_url}/watch?v="

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> GoogleStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- credentials it hands out -------------------------------------------------------------

    def service_account_info(self) -> dict[str, str]:
        """A service-account key file's contents whose ``token_uri`` is this stand-in. Its
        throwaway key is registered here, so assertions it signs are accepted."""
        key = _throwaway_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._public_keys[self.service_account_email] = key.public_key()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": hashlib.sha1(public_der, usedforsecurity=False).hexdigest(),
            "private_key": pem,
            "client_email": self.service_account_email,
            "client_id": "100000000000000000001",
            "auth_uri": self.auth_uri,
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": f"{self.base_url}/oauth2/v1/certs",
            "client_x509_cert_url": f"{self.base_url}/robot/v1/metadata/x509/"
            + self.service_account_email,
            "universe_domain": "googleapis.com",
        }

    def client_secrets(self, redirect_uri: str = "http://localhost") -> dict[str, Any]:
        """A desktop OAuth client's ``client_secret_....json`` pointing at this stand-in."""
        return {
            "installed": {
                "client_id": self.client_id,
                "project_id": self.project_id,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "auth_provider_x509_cert_url": f"{self.base_url}/oauth2/v1/certs",
                "client_secret": self.client_secret,
                "redirect_uris": [redirect_uri],
            }
        }

    def user_credentials(self, *, expired: bool = False) -> user_account.Credentials:
        """A user's YouTube token as if they had consented: a refresh token and an access token
        (already expired, for the client too, when ``expired``)."""
        refresh_token = "1//standin-" + secrets.token_urlsafe(24)
        self._refresh_tokens[refresh_token] = frozenset({YOUTUBE_SCOPE})
        access_token = self._issue(frozenset({YOUTUBE_SCOPE}), "user")
        lifetime = -60 if expired else self.token_ttl
        if expired:
            self._tokens[access_token].expires_at = self._now() + lifetime
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lifetime)
        return make_user_credentials(
            token=access_token,
            refresh_token=refresh_token,
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=[YOUTUBE_SCOPE],
            expiry=expiry.replace(tzinfo=None),
        )

    def write_service_account_file(self, path: str | os.PathLike[str]) -> Path:
        return _write_private(path, json.dumps(self.service_account_info(), indent=2))

    def write_client_secrets(
        self, path: str | os.PathLike[str], redirect_uri: str = "http://localhost"
    ) -> Path:
        return _write_private(path, json.dumps(self.client_secrets(redirect_uri), indent=2))

    def write_user_token_file(self, path: str | os.PathLike[str], *, expired: bool = False) -> Path:
        write_token_file(path, self.user_credentials(expired=expired))
        return Path(path)

    # -- faults and test hooks ----------------------------------------------------------------

    def add_calendar(self, calendar_id: str) -> None:
        """A calendar shared with the service account."""
        self.calendars.setdefault(calendar_id, {})

    def fail_next(
        self,
        n: int,
        status: int,
        *,
        reason: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` API requests (only those with this ``method`` and ``path``, when
        given) answer ``status`` with Google's error body: ``reason`` (default by status: 403
        ``forbidden``, 429 ``rateLimitExceeded``, 5xx ``backendError``...) and ``Retry-After``
        when ``retry_after`` (seconds, or a string sent verbatim) is given."""
        reason = reason or FAULT_REASONS.get(status) or "backendError"
        message = message or FAULT_MESSAGES.get(reason) or reason
        if isinstance(retry_after, int | float):
            number = float(retry_after)
            header: str | None = str(int(number)) if number.is_integer() else str(number)
        else:
            header = retry_after
        fault = _Fault(status, reason, message, header, method, path)
        self._faults.extend(dataclasses.replace(fault) for _ in range(n))

    def slow(self, seconds: float) -> None:
        """Delay every API answer by ``seconds`` (0 to stop)."""
        self._delay = seconds

    async def down(self) -> None:
        """Stop listening and drop open connections: connecting is refused until ``up``
        (httplib2 keeps connections alive; without the drop they would still be answered)."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()

    async def up(self) -> None:
        if self._site is None:
            await self._listen()

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (refresh tokens still work)."""
        for token in self._tokens.values():
            token.expires_at = float("-inf")

    def revoke_refresh_tokens(self) -> None:
        """The user withdrew consent (or, in Google's "testing" publishing status, a week
        passed): every refresh token is refused with ``invalid_grant``."""
        self._refresh_tokens.clear()

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward (access tokens age; JWT assertions are still
        checked against real time, as their signer's clock is)."""
        self._clock_offset += seconds

    def push_video(self, stream_id: str, *, active: bool = True) -> None:
        """An encoder starts (or stops) sending video to the stream."""
        stream = self.streams[stream_id]
        stream["status"] = {
            "streamStatus": "active" if active else "ready",
            "healthStatus": {"status": "good" if active else "noData"},
        }

    def events(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        return self.calendars[calendar_id]

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(seen.method, seen.path) for seen in self.requests]

    def _now(self) -> float:
        return time.time() + self._clock_offset

    # -- plumbing -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        seen = Seen(request.method, request.path, dict(request.query))
        self.requests.append(seen)
        if request.path == "/token":
            seen.body = {k: str(v) for k, v in (await request.post()).items()}
        api = request.path.split("/")[1] if request.path.count("/") > 1 else ""
        if api not in ("calendar", "youtube"):
            return await handler(request)
        if request.method in ("POST", "PUT", "PATCH") and request.body_exists:
            try:
                seen.body = await request.json()
            except ValueError:
                return _google_error(400, "parseError", "Parse Error")
        if self._delay:
            await asyncio.sleep(self._delay)
        fault = next((f for f in self._faults if f.matches(request)), None)
        if fault is not None:
            self._faults.remove(fault)
            return self._fault_response(fault, api)
        accepted = CALENDAR_SCOPES if api == "calendar" else YOUTUBE_SCOPES
        denied = self._check_token(request, accepted)
        if denied is not None:
            return denied
        return await handler(request)

    @staticmethod
    def _fault_response(fault: _Fault, api: str) -> web.Response:
        if fault.reason in ("rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"):
            domain = "usageLimits"
        elif fault.reason == "quotaExceeded":
            domain = "youtube.quota" if api == "youtube" else "usageLimits"
        else:
            domain = "global"
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        return _google_error(
            fault.status, fault.reason, fault.message, domain=domain, headers=headers
        )

    def _check_token(self, request: web.Request, accepted: frozenset[str]) -> web.Response | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self._tokens.get(value) if scheme == "Bearer" else None
        if token is None or token.expires_at <= self._now():
            return _google_error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                location="Authorization",
                locationType="header",
            )
        if not token.scopes & accepted:
            return _google_error(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        request[PRINCIPAL] = token.principal
        return None

    def _issue(self, scopes: frozenset[str], principal: str) -> str:
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        self._tokens[token] = _Token(self._now() + self.token_ttl, scopes, principal)
        return token

    def _etag(self) -> str:
        return f'"{next(self._etags)}"'

    # -- OAuth --------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            return self._jwt_grant(form.get("assertion", ""))
        if grant not in ("refresh_token", "authorization_code"):
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if grant == "refresh_token":
            return self._refresh_grant(form)
        return self._code_grant(form)

    def _jwt_grant(self, assertion: str) -> web.Response:
        invalid = _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        parts = assertion.split(".")
        if len(parts) != 3:
            return invalid
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError:
            return invalid
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return invalid
        key = self._public_keys.get(str(claims.get("iss")))
        if header.get("alg") != "RS256" or key is None:
            return invalid
        try:
            signed = f"{parts[0]}.{parts[1]}".encode("ascii")
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return invalid
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            return _oauth_error(
                400,
                "invalid_grant",
                "Invalid JWT: Failed audience check. The right audience is "
                + GOOGLE_TOKEN_AUDIENCE,
            )
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or not 0 < exp - iat <= MAX_JWT_LIFETIME
            or iat > now + 300
            or exp < now - 300
        ):
            return _oauth_error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim.",
            )
        if claims.get("sub"):
            return _oauth_error(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
            )
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        if not scopes or not all(s.startswith("https://www.googleapis.com/auth/") for s in scopes):
            return _oauth_error(
                400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        token = self._issue(scopes, str(claims["iss"]))
        return web.json_response(
            {"access_token": token, "expires_in": self.token_ttl - 1, "token_type": "Bearer"}
        )

    def _refresh_grant(self, form: dict[str, str]) -> web.Response:
        granted = self._refresh_tokens.get(form.get("refresh_token", ""))
        if granted is None:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        asked = frozenset(form["scope"].split()) if form.get("scope") else granted
        if not asked <= granted:
            return _oauth_error(400, "invalid_scope", "Bad Request")
        token = self._issue(asked, "user")
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.token_ttl - 1,
                "scope": " ".join(sorted(asked)),
                "token_type": "Bearer",
            }
        )

    def _code_grant(self, form: dict[str, str]) -> web.Response:
        code = self._codes.pop(form.get("code", ""), None)  # single use
        if code is None or code.expires_at <= self._now():
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "").encode("ascii", "replace")
            computed = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if not secrets.compare_digest(computed.decode("ascii"), code.challenge):
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        refresh_token = "1//standin-" + secrets.token_urlsafe(24)
        self._refresh_tokens[refresh_token] = code.scopes
        return web.json_response(
            {
                "access_token": self._issue(code.scopes, "user"),
                "expires_in": self.token_ttl - 1,
                "refresh_token": refresh_token,
                "scope": " ".join(sorted(code.scopes)),
                "token_type": "Bearer",
            }
        )

    async def _consent(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if query.get("client_id") != self.client_id:
            return _page(401, "Error 401: invalid_client", "The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if not _loopback_redirect(redirect_uri):
            return _page(400, "Error 400: redirect_uri_mismatch", html.escape(redirect_uri))
        scopes = frozenset(query.get("scope", "").split())
        if query.get("response_type") != "code" or not scopes:
            return _page(400, "Error 400: invalid_request", "response_type=code and a scope")
        if query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            return _page(400, "Error 400: invalid_request", "code_challenge_method must be S256")
        answer: dict[str, str] = {}
        if self.consent_answer:
            answer["error"] = self.consent_answer
        else:
            code = "4/standin-" + secrets.token_urlsafe(24)
            granted = scopes if self.consent_scopes is None else scopes & self.consent_scopes
            self._codes[code] = _Code(
                redirect_uri, granted, query.get("code_challenge"), self._now() + CODE_TTL
            )
            answer |= {"code": code, "scope": " ".join(sorted(granted))}
        if "state" in query:
            answer["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{separator}{urlencode(answer)}")

    # -- Calendar -----------------------------------------------------------------------------

    def _calendar(self, request: web.Request) -> dict[str, dict[str, Any]] | None:
        return self.calendars.get(request.match_info["calendar_id"])

    @staticmethod
    def _not_found() -> web.Response:
        return _google_error(404, "notFound", "Not Found")

    def _check_event(self, request: web.Request, event: dict[str, Any]) -> web.Response | None:
        """What Google checks of an event as it would be stored."""
        if event.get("attendees") and str(request.get(PRINCIPAL, "")).endswith(
            ".iam.gserviceaccount.com"
        ):
            return _google_error(
                403,
                "forbiddenForServiceAccounts",
                "Service accounts cannot invite attendees without Domain-Wide Delegation of "
                "Authority.",
            )
        if event.get("status", "confirmed") not in ("confirmed", "tentative", "cancelled"):
            return _google_error(400, "invalid", "Invalid value for: status")
        moments: list[dt.datetime] = []
        for name in ("start", "end"):
            when = event.get(name)
            if not isinstance(when, dict):
                return _google_error(400, "required", f"Missing {name} time.")
            zone = when.get("timeZone")
            if zone is not None:
                try:
                    ZoneInfo(str(zone))
                except (ZoneInfoNotFoundError, ValueError):
                    return _google_error(
                        400, "invalid", f"Invalid time zone definition for {name} time."
                    )
            moment = _parse_time(when.get("dateTime"))
            if moment is None:
                return _google_error(400, "invalid", f"Invalid {name} time.")
            if moment.tzinfo is None:
                if zone is None:
                    return _google_error(
                        400, "timeZoneRequired", f"Missing time zone definition for {name} time."
                    )
                moment = moment.replace(tzinfo=ZoneInfo(str(zone)))
            moments.append(moment)
        if moments[1] <= moments[0]:
            return _google_error(400, "timeRangeEmpty", "The specified time range is empty.")
        return None

    def _stamp(self, event: dict[str, Any], calendar_id: str) -> None:
        event["etag"] = self._etag()
        event["updated"] = _rfc3339(self._now())
        eid = base64.b64encode(f"{event['id']} {calendar_id}".encode()).decode().rstrip("=")
        event["htmlLink"] = f"{self.base_url}/calendar/event?eid={eid}"

    async def _insert_event(self, request: web.Request) -> web.Response:
        calendar = self._calendar(request)
        if calendar is None:
            return self._not_found()
        body = await _json(request)
        event_id = body.get("id")
        if event_id is None:
            event_id = "".join(secrets.choice(BASE32HEX) for _ in range(26))
        if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            return _google_error(400, "invalid", "Invalid resource id value.")
        if event_id in calendar:  # deleted ones too: their ids stay taken
            return _google_error(409, "duplicate", "The requested identifier already exists.")
        calendar_id = request.match_info["calendar_id"]
        created = _rfc3339(self._now())
        event: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "created": created,
            "creator": {"email": request.get(PRINCIPAL, "")},
            "organizer": {"email": calendar_id, "self": True},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        event |= {k: v for k, v in body.items() if k in WRITABLE_EVENT_FIELDS}
        refused = self._check_event(request, event)
        if refused is not None:
            return refused
        self._stamp(event, calendar_id)
        calendar[event_id] = event
        return web.json_response(event)

    async def _get_event(self, request: web.Request) -> web.Response:
        calendar = self._calendar(request)
        event = calendar.get(request.match_info["event_id"]) if calendar is not None else None
        if event is None:
            return self._not_found()
        return web.json_response(event)  # a deleted event answers, with status "cancelled"

    async def _update_event(self, request: web.Request) -> web.Response:
        return await self._change_event(request, replace=True)

    async def _patch_event(self, request: web.Request) -> web.Response:
        return await self._change_event(request, replace=False)

    async def _change_event(self, request: web.Request, *, replace: bool) -> web.Response:
        calendar = self._calendar(request)
        event = calendar.get(request.match_info["event_id"]) if calendar is not None else None
        if calendar is None or event is None:
            return self._not_found()
        body = {k: v for k, v in (await _json(request)).items() if k in WRITABLE_EVENT_FIELDS}
        changed = json.loads(json.dumps(event))
        if replace:
            for name in WRITABLE_EVENT_FIELDS:
                changed.pop(name, None)
            changed |= body
            changed.setdefault("status", "confirmed")
        else:
            _merge(changed, body)
        refused = self._check_event(request, changed)
        if refused is not None:
            return refused
        if changed["start"] != event["start"] or changed["end"] != event["end"]:
            changed["sequence"] = int(event["sequence"]) + 1
        self._stamp(changed, request.match_info["calendar_id"])
        calendar[event["id"]] = changed
        return web.json_response(changed)

    async def _delete_event(self, request: web.Request) -> web.Response:
        calendar = self._calendar(request)
        event = calendar.get(request.match_info["event_id"]) if calendar is not None else None
        if event is None:
            return self._not_found()
        if event["status"] == "cancelled":
            return _google_error(410, "deleted", "Resource has been deleted")
        event["status"] = "cancelled"
        self._stamp(event, request.match_info["calendar_id"])
        return web.Response(status=204)

    async def _list_events(self, request: web.Request) -> web.Response:
        calendar = self._calendar(request)
        if calendar is None:
            return self._not_found()
        show_deleted = request.query.get("showDeleted") == "true"
        wanted = request.query.getall("privateExtendedProperty", [])
        rows = []
        for event in calendar.values():
            if event["status"] == "cancelled" and not show_deleted:
                continue
            private = (event.get("extendedProperties") or {}).get("private") or {}
            if all(private.get(k) == v for k, _, v in (w.partition("=") for w in wanted)):
                rows.append(event)
        page = _page_of(request, rows, default_size=250, max_size=2500)
        if isinstance(page, web.Response):
            return page
        items, next_token = page
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": self._etag(),
            "summary": request.match_info["calendar_id"],
            "updated": _rfc3339(self._now()),
            "timeZone": "UTC",
            "accessRole": "writer",
            "items": items,
        }
        if next_token:
            body["nextPageToken"] = next_token
        return web.json_response(body)

    # -- YouTube ------------------------------------------------------------------------------

    @staticmethod
    def _parts(request: web.Request) -> set[str]:
        return {p.strip() for p in request.query.get("part", "").split(",") if p.strip()}

    def _shown(self, resource: dict[str, Any], parts: set[str], known: tuple[str, ...]) -> Any:
        shown = {k: resource[k] for k in ("kind", "etag", "id")}
        shown |= {p: resource[p] for p in known if p in parts and p in resource}
        return shown

    @staticmethod
    def _yt_error(status: int, reason: str, message: str, domain: str) -> web.Response:
        return _google_error(status, reason, message, domain=f"youtube.{domain}")

    def _check_snippet(self, snippet: object) -> web.Response | None:
        if not isinstance(snippet, dict):
            return self._yt_error(400, "invalidTitle", "A title is required.", "liveBroadcast")
        title = snippet.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 100:
            return self._yt_error(
                400, "invalidTitle", "The broadcast title is invalid.", "liveBroadcast"
            )
        if "<" in title or ">" in title:
            return self._yt_error(
                400, "invalidTitle", "The broadcast title is invalid.", "liveBroadcast"
            )
        if "scheduledStartTime" not in snippet:
            return self._yt_error(
                400,
                "scheduledStartTimeRequired",
                "The scheduled start time is required.",
                "liveBroadcast",
            )
        start = _parse_time(snippet["scheduledStartTime"])
        if start is None or start.tzinfo is None:
            return self._yt_error(
                400,
                "invalidScheduledStartTime",
                "Scheduled start time is invalid.",
                "liveBroadcast",
            )
        if "scheduledEndTime" in snippet:
            end = _parse_time(snippet["scheduledEndTime"])
            if end is None or end.tzinfo is None or end <= start:
                return self._yt_error(
                    400,
                    "invalidScheduledEndTime",
                    "Scheduled end time is invalid.",
                    "liveBroadcast",
                )
        return None

    @staticmethod
    def _privacy(status: object) -> str | None:
        privacy = status.get("privacyStatus") if isinstance(status, dict) else None
        return privacy if privacy in ("public", "unlisted", "private") else None

    async def _insert_broadcast(self, request: web.Request) -> web.Response:
        body = await _json(request)
        refused = self._check_snippet(body.get("snippet"))
        if refused is not None:
            return refused
        privacy = self._privacy(body.get("status"))
        if privacy is None:
            return self._yt_error(
                400, "invalidPrivacyStatus", "Invalid privacy status.", "liveBroadcast"
            )
        snippet = body["snippet"]
        details = body.get("contentDetails") or {}
        broadcast_id = "".join(secrets.choice(ID_CHARS) for _ in range(11))
        broadcast: dict[str, Any] = {
            "kind": "youtube#liveBroadcast",
            "etag": self._etag(),
            "id": broadcast_id,
            "snippet": {
                "publishedAt": _rfc3339(self._now()),
                "channelId": self.channel_id,
                "title": snippet["title"],
                "description": str(snippet.get("description") or ""),
                "scheduledStartTime": snippet["scheduledStartTime"],
                "isDefaultBroadcast": False,
                "liveChatId": "KicKGFVD" + secrets.token_urlsafe(24),
            },
            "status": {
                "lifeCycleStatus": "created",
                "privacyStatus": privacy,
                "recordingStatus": "notRecording",
                "madeForKids": False,
                "selfDeclaredMadeForKids": bool(
                    body["status"].get("selfDeclaredMadeForKids", False)
                ),
            },
            "contentDetails": {
                "monitorStream": {
                    "enableMonitorStream": bool(details.get("enableMonitorStream", True)),
                    "broadcastStreamDelayMs": 0,
                },
                "enableEmbed": True,
                "enableDvr": bool(details.get("enableDvr", True)),
                "recordFromStart": bool(details.get("recordFromStart", True)),
                "enableClosedCaptions": False,
                "closedCaptionsType": "closedCaptionsDisabled",
                "enableLowLatency": False,
                "latencyPreference": "normal",
                "projection": "rectangular",
                "enableAutoStart": bool(details.get("enableAutoStart", False)),
                "enableAutoStop": bool(details.get("enableAutoStop", False)),
            },
        }
        if "scheduledEndTime" in snippet:
            broadcast["snippet"]["scheduledEndTime"] = snippet["scheduledEndTime"]
        self.broadcasts[broadcast_id] = broadcast
        return web.json_response(self._shown(broadcast, self._parts(request), BROADCAST_PARTS))

    def _broadcast_not_found(self) -> web.Response:
        return self._yt_error(404, "liveBroadcastNotFound", "Broadcast not found", "liveBroadcast")

    async def _update_broadcast(self, request: web.Request) -> web.Response:
        body = await _json(request)
        broadcast = self.broadcasts.get(str(body.get("id")))
        if broadcast is None:
            return self._broadcast_not_found()
        parts = self._parts(request)
        if "snippet" in parts:
            refused = self._check_snippet(body.get("snippet"))
            if refused is not None:
                return refused
            snippet = body["snippet"]
            broadcast["snippet"].pop("scheduledEndTime", None)
            broadcast["snippet"]["description"] = str(snippet.get("description") or "")
            for key in ("title", "scheduledStartTime", "scheduledEndTime"):
                if key in snippet:
                    broadcast["snippet"][key] = snippet[key]
        if "status" in parts:
            privacy = self._privacy(body.get("status"))
            if privacy is None:
                return self._yt_error(
                    400, "invalidPrivacyStatus", "Invalid privacy status.", "liveBroadcast"
                )
            broadcast["status"]["privacyStatus"] = privacy
        broadcast["etag"] = self._etag()
        return web.json_response(self._shown(broadcast, parts, BROADCAST_PARTS))

    async def _bind(self, request: web.Request) -> web.Response:
        broadcast = self.broadcasts.get(request.query.get("id", ""))
        if broadcast is None:
            return self._broadcast_not_found()
        stream_id = request.query.get("streamId")
        if stream_id is not None and stream_id not in self.streams:
            return self._yt_error(404, "liveStreamNotFound", "Stream not found", "liveStream")
        if broadcast["status"]["lifeCycleStatus"] not in ("created", "ready"):
            return self._yt_error(
                403,
                "liveBroadcastBindingNotAllowed",
                "The current status of the live broadcast does not allow it to be bound to a "
                "stream.",
                "liveBroadcast",
            )
        details = broadcast["contentDetails"]
        if stream_id is None:
            details.pop("boundStreamId", None)
            broadcast["status"]["lifeCycleStatus"] = "created"
        else:
            details["boundStreamId"] = stream_id
            details["boundStreamLastUpdateTimeMs"] = _rfc3339(self._now())
            broadcast["status"]["lifeCycleStatus"] = "ready"
        broadcast["etag"] = self._etag()
        return web.json_response(self._shown(broadcast, self._parts(request), BROADCAST_PARTS))

    async def _transition(self, request: web.Request) -> web.Response:
        broadcast = self.broadcasts.get(request.query.get("id", ""))
        if broadcast is None:
            return self._broadcast_not_found()
        target = request.query.get("broadcastStatus", "")
        if target not in ("testing", "live", "complete"):
            return self._yt_error(
                400, "invalidValue", f"Invalid broadcastStatus: {target}", "liveBroadcast"
            )
        current = broadcast["status"]["lifeCycleStatus"]
        if current == target:
            return self._yt_error(
                403, "redundantTransition", "Redundant transition", "liveBroadcast"
            )
        if (current, target) not in TRANSITIONS:
            return self._yt_error(403, "invalidTransition", "Invalid transition", "liveBroadcast")
        if target in ("testing", "live"):
            stream = self.streams.get(str(broadcast["contentDetails"].get("boundStreamId")))
            if stream is None or stream["status"]["streamStatus"] != "active":
                return self._yt_error(
                    403, "errorStreamInactive", "Stream is inactive", "liveBroadcast"
                )
        now = _rfc3339(self._now())
        broadcast["status"]["lifeCycleStatus"] = target
        if target == "live":
            broadcast["snippet"]["actualStartTime"] = now
            broadcast["status"]["recordingStatus"] = "recording"
        if target == "complete":
            broadcast["snippet"]["actualEndTime"] = now
            broadcast["status"]["recordingStatus"] = "recorded"
        broadcast["etag"] = self._etag()
        shown = self._shown(broadcast, self._parts(request), BROADCAST_PARTS)
        if "status" in shown:  # YouTube answers while the change is still under way
            starting = {"testing": "testStarting", "live": "liveStarting"}.get(target, target)
            shown["status"] = shown["status"] | {"lifeCycleStatus": starting}
        return web.json_response(shown)

    async def _delete_broadcast(self, request: web.Request) -> web.Response:
        if self.broadcasts.pop(request.query.get("id", ""), None) is None:
            return self._broadcast_not_found()
        return web.Response(status=204)

    async def _list_broadcasts(self, request: web.Request) -> web.Response:
        query = request.query
        filters = [name for name in ("id", "mine", "broadcastStatus") if name in query]
        if len(filters) != 1:
            return self._yt_error(
                400,
                "incompatibleParameters",
                "Incompatible parameters specified in the request.",
                "parameter",
            )
        rows = list(self.broadcasts.values())
        if "id" in query:
            ids = query["id"].split(",")
            rows = [b for b in rows if b["id"] in ids]
        elif "broadcastStatus" in query:
            wanted = {
                "all": None,
                "upcoming": UPCOMING,
                "active": ACTIVE,
                "completed": frozenset({"complete"}),
            }.get(query["broadcastStatus"], frozenset())
            if wanted is not None:
                rows = [b for b in rows if b["status"]["lifeCycleStatus"] in wanted]
        return self._yt_list(request, "youtube#liveBroadcastListResponse", rows, BROADCAST_PARTS)

    def _yt_list(
        self, request: web.Request, kind: str, rows: list[dict[str, Any]], known: tuple[str, ...]
    ) -> web.Response:
        page = _page_of(request, rows, default_size=5, max_size=50)
        if isinstance(page, web.Response):
            return page
        items, next_token = page
        parts = self._parts(request)
        body: dict[str, Any] = {
            "kind": kind,
            "etag": self._etag(),
            "pageInfo": {"totalResults": len(rows), "resultsPerPage": len(items)},
            "items": [self._shown(row, parts, known) for row in items],
        }
        if next_token:
            body["nextPageToken"] = next_token
        return web.json_response(body)

    async def _insert_stream(self, request: web.Request) -> web.Response:
        body = await _json(request)
        snippet = body.get("snippet")
        if not isinstance(snippet, dict) or not str(snippet.get("title") or "").strip():
            return self._yt_error(400, "titleRequired", "A title is required.", "liveStream")
        cdn = body.get("cdn")
        if not isinstance(cdn, dict) or cdn.get("ingestionType") not in ("rtmp", "dash", "hls"):
            return self._yt_error(
                400, "invalidIngestionType", "The ingestion type is invalid.", "liveStream"
            )
        stream_id = self.channel_id[2:] + str(1_700_000_000_000 + len(self.streams))
        stream_name = "-".join(secrets.token_hex(2) for _ in range(5))
        address = f"rtmp://{self.host}:1935/live2"
        stream: dict[str, Any] = {
            "kind": "youtube#liveStream",
            "etag": self._etag(),
            "id": stream_id,
            "snippet": {
                "publishedAt": _rfc3339(self._now()),
                "channelId": self.channel_id,
                "title": snippet["title"],
                "description": str(snippet.get("description") or ""),
                "isDefaultStream": False,
            },
            "cdn": {
                "ingestionType": cdn["ingestionType"],
                "ingestionInfo": {
                    "streamName": stream_name,
                    "ingestionAddress": address,
                    "backupIngestionAddress": f"{address}?backup=1",
                    "rtmpsIngestionAddress": f"rtmps://{self.host}:1936/live2",
                    "rtmpsBackupIngestionAddress": f"rtmps://{self.host}:1936/live2?backup=1",
                },
                "resolution": cdn.get("resolution", "variable"),
                "frameRate": cdn.get("frameRate", "variable"),
            },
            "status": {"streamStatus": "ready", "healthStatus": {"status": "noData"}},
            "contentDetails": {
                "isReusable": bool((body.get("contentDetails") or {}).get("isReusable", True)),
            },
        }
        self.streams[stream_id] = stream
        if self.video_arrives:
            self.push_video(stream_id)
        return web.json_response(self._shown(stream, self._parts(request), STREAM_PARTS))

    async def _delete_stream(self, request: web.Request) -> web.Response:
        if self.streams.pop(request.query.get("id", ""), None) is None:
            return self._yt_error(404, "liveStreamNotFound", "Stream not found", "liveStream")
        return web.Response(status=204)

    async def _list_streams(self, request: web.Request) -> web.Response:
        query = request.query
        if ("id" in query) == ("mine" in query):
            return self._yt_error(
                400,
                "incompatibleParameters",
                "Incompatible parameters specified in the request.",
                "parameter",
            )
        rows = list(self.streams.values())
        if "id" in query:
            ids = query["id"].split(",")
            rows = [s for s in rows if s["id"] in ids]
        return self._yt_list(request, "youtube#liveStreamListResponse", rows, STREAM_PARTS)

    async def _watch(self, request: web.Request) -> web.Response:
        broadcast = self.broadcasts.get(request.query.get("v", ""))
        if broadcast is None:
            return _page(404, "This video isn't available", "")
        status = broadcast["status"]["lifeCycleStatus"]
        return _page(200, html.escape(broadcast["snippet"]["title"]), f"<p>Broadcast: {status}</p>")


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    data = await request.json()
    return data if isinstance(data, dict) else {}


def _page_of(
    request: web.Request, rows: list[dict[str, Any]], *, default_size: int, max_size: int
) -> tuple[list[dict[str, Any]], str] | web.Response:
    """``maxResults`` / ``pageToken`` pagination; the token is opaque (the offset, encoded)."""
    try:
        size = int(request.query.get("maxResults", str(default_size)))
        offset = 0
        token = request.query.get("pageToken", "")
        if token:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
    except ValueError:
        return _google_error(400, "invalidPageToken", "The page token is invalid.")
    size = max(1, min(size, max_size))
    end = offset + size
    next_token = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(rows) else ""
    return rows[offset:end], next_token


def _page(status: int, title: str, extra: str) -> web.Response:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Google stand-in</title></head><body>"
        f"<h1>{title}</h1>{extra}<p><small>Local Google stand-in, not Google.</small></p>"
        "</body></html>"
    )
    return web.Response(status=status, text=page, content_type="text/html", charset="utf-8")


def _write_private(path: str | os.PathLike[str], text: str) -> Path:
    """Write a file only its owner can read (it holds a key or a client secret)."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)
    return target
