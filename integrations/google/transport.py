"""How every Google call is made: google-api-python-client's service object built once from the
discovery document bundled in the wheel (no network), requests executed in a worker thread
through ``asyncio.to_thread`` with that thread's own ``AuthorizedHttp`` (httplib2 objects are
not thread-safe), and every failure turned into a ``GoogleError``.

Retry policy (``GoogleError.retryable`` / ``retry_at``):

- 429 and every 5xx: retryable, at ``Retry-After`` when Google sends one.
- 403 ``rateLimitExceeded`` / ``userRateLimitExceeded``: retryable (per-minute limits), same.
- ``dailyLimitExceeded`` anywhere, and ``quotaExceeded`` on the APIs that count a daily quota
  (YouTube's 10,000 units): retryable after the next midnight Pacific time, when Google resets
  them. Calendar's ``quotaExceeded`` ("usage limits exceeded") is a rolling limit: retryable
  with no ``retry_at``, the caller backs off.
- ``errorStreamInactive`` (YouTube: no video yet): retryable, the encoder may start any moment.
- Every other 4xx: not retryable. Unreachable, timed out, token endpoint down: retryable.
  Credentials refused by the token endpoint (``invalid_grant``...): not retryable."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import threading
from collections.abc import Callable
from http.client import RemoteDisconnected
from typing import Any
from zoneinfo import ZoneInfo

import google_auth_httplib2  # type: ignore[import-untyped]  # ships no type information
import httplib2  # type: ignore[import-untyped]  # ships none either (stubs are a separate package)
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from integrations.google import GoogleError

PACIFIC = ZoneInfo("America/Los_Angeles")  # Google resets daily quotas at midnight here
# retryable soon, whatever the status: per-minute limits, Calendar's rolling usage limit, and
# YouTube waiting for the encoder's video
RETRY_SOON_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "errorStreamInactive"}
)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def next_pacific_midnight(now: dt.datetime) -> dt.datetime:
    """The next 00:00 in America/Los_Angeles (DST included), as aware UTC."""
    tomorrow = now.astimezone(PACIFIC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=PACIFIC).astimezone(dt.UTC)


def parse_retry_after(value: str, now: dt.datetime) -> dt.datetime | None:
    """``Retry-After`` as seconds or as an HTTP date."""
    value = value.strip()
    try:
        return now + dt.timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def error_reason(content: bytes) -> tuple[str | None, str | None]:
    """Google's reason and message from an error body: ``error.errors[0].reason`` (the
    classic shape every API we use sends), else an ``ErrorInfo`` detail's reason, else
    ``error.status``."""
    try:
        error = json.loads(content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError):
        return None, None
    if not isinstance(error, dict):
        return None, str(error)
    message = str(error["message"]) if error.get("message") else None
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            return str(item["reason"]), message
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"]), message
    return (str(error["status"]) if error.get("status") else None), message


# Errors of a pooled connection the server had already closed: the request never reached it.
STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, RemoteDisconnected)


class GoogleService:
    """One Google API (``api``, ``version``) for one set of credentials.

    Nothing happens at construction: credentials are loaded (``load_credentials``, which raises
    ``GoogleError``) and the service built on the first call. ``api_endpoint`` replaces the
    discovery document's root URL and service path (the stand-in in tests and the demo).
    ``timeout`` (seconds) bounds each HTTP exchange, token requests included."""

    def __init__(
        self,
        api: str,
        version: str,
        *,
        label: str,
        load_credentials: Callable[[], Credentials],
        api_endpoint: str | None,
        timeout: float,
        clock: Clock,
        daily_quota_reasons: frozenset[str],
        refused_hint: str,
    ) -> None:
        self._api = api
        self._version = version
        self._label = label
        self._load_credentials = load_credentials
        self._api_endpoint = api_endpoint
        self._timeout = timeout
        self._clock = clock
        self._daily_quota_reasons = daily_quota_reasons | {"dailyLimitExceeded"}
        self._refused_hint = refused_hint
        self._build_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._service: Any = None
        self._credentials: Credentials | None = None
        self._local = threading.local()
        self._https: list[google_auth_httplib2.AuthorizedHttp] = []

    async def execute(self, what: str, request: Callable[[Any], Any]) -> Any:
        """Run ``request(service).execute()`` in a worker thread; ``what`` names the call in
        error messages. Raises ``GoogleError``."""
        return await asyncio.to_thread(self._execute, what, request)

    async def aclose(self) -> None:
        """Close every thread's connections. Only at shutdown: an ``Http`` in use by another
        thread must not be closed under it."""
        with self._build_lock:
            https, self._https = self._https, []
            self._local = threading.local()
        for http in https:
            http.close()

    # -- in the worker thread ---------------------------------------------------------------

    def _execute(self, what: str, request: Callable[[Any], Any]) -> Any:
        service, credentials = self._ready()
        http = self._thread_http(credentials)
        try:
            self._ensure_token(credentials, http)
            try:
                return request(service).execute(http=http, num_retries=0)
            except STALE_CONNECTION:
                # A kept-alive connection the server closed meanwhile (after an outage, or an
                # idle timeout): drop this thread's connections and try once on a fresh one.
                # Safe to repeat: every call we make is idempotent (derived ids, lookups by key).
                stale = list(http.http.connections.values())
                http.http.connections.clear()
                for connection in stale:
                    connection.close()
                return request(service).execute(http=http, num_retries=0)
        except HttpError as exc:
            raise self._http_error(what, exc) from exc
        except auth_exceptions.RefreshError as exc:
            raise self._refresh_error(what, exc) from exc
        except (auth_exceptions.TransportError, httplib2.HttpLib2Error, OSError) as exc:
            # refused, reset, timed out, name not resolved; the token endpoint's too
            raise GoogleError(f"{self._label} unreachable ({what}): {exc}", retryable=True) from exc

    def _ready(self) -> tuple[Any, Credentials]:
        with self._build_lock:
            if self._service is None or self._credentials is None:
                credentials = self._load_credentials()
                client_options = {"api_endpoint": self._api_endpoint} if self._api_endpoint else {}
                self._service = build(
                    self._api,
                    self._version,
                    credentials=credentials,
                    client_options=client_options,
                    cache_discovery=False,
                    static_discovery=True,
                )
                self._credentials = credentials
            return self._service, self._credentials

    def _thread_http(self, credentials: Credentials) -> google_auth_httplib2.AuthorizedHttp:
        local = self._local
        http: google_auth_httplib2.AuthorizedHttp | None = getattr(local, "http", None)
        if http is None:
            http = google_auth_httplib2.AuthorizedHttp(
                credentials, http=httplib2.Http(timeout=self._timeout)
            )
            local.http = http
            with self._build_lock:
                self._https.append(http)
        return http

    def _ensure_token(
        self, credentials: Credentials, http: google_auth_httplib2.AuthorizedHttp
    ) -> None:
        """Fetch or refresh the token before the call when it is missing or expired, one
        thread at a time, so concurrent first calls ask the token endpoint once. A token the
        API rejects anyway (401: revoked, or expired early on Google's side) is refreshed by
        ``AuthorizedHttp`` and the call repeated, in each thread that meets the 401."""
        if credentials.valid:
            return
        with self._refresh_lock:
            if not credentials.valid:
                # google-auth's base Credentials.refresh is not annotated
                credentials.refresh(google_auth_httplib2.Request(http.http))  # type: ignore[no-untyped-call]

    # -- errors --------------------------------------------------------------------------------

    def _http_error(self, what: str, exc: HttpError) -> GoogleError:
        status = int(exc.resp.status)
        reason, detail = error_reason(exc.content)
        detail = detail or str(exc.resp.reason or "")
        message = f"{self._label} {what} failed: HTTP {status}"
        message += f" {reason}: {detail}" if reason else f": {detail}"
        now = self._clock()
        header = exc.resp.get("retry-after")
        retry_at = parse_retry_after(str(header), now) if header else None
        if status in (403, 429) and reason in self._daily_quota_reasons:
            return GoogleError(
                message,
                reason=reason,
                status=status,
                retryable=True,
                retry_at=retry_at or next_pacific_midnight(now),
            )
        retryable = status == 429 or status >= 500 or reason in RETRY_SOON_REASONS
        return GoogleError(
            message,
            reason=reason,
            status=status,
            retryable=retryable,
            retry_at=retry_at if retryable else None,
        )

    def _refresh_error(self, what: str, exc: auth_exceptions.RefreshError) -> GoogleError:
        data = exc.args[1] if len(exc.args) > 1 else None
        reason = str(data["error"]) if isinstance(data, dict) and data.get("error") else None
        retryable = bool(getattr(exc, "retryable", False))
        detail = str(exc.args[0]) if exc.args else type(exc).__name__
        message = f"{self._label} token request failed ({what}): {detail}"
        if not retryable:
            message += f"; {self._refused_hint}"
        return GoogleError(message, reason=reason, retryable=retryable)
