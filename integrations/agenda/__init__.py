"""Fetch an upstream event's published agenda (.ics) over HTTP."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from urllib.parse import urlsplit


class AgendaFetchError(Exception):
    """The agenda could not be fetched; the message says why, for the organiser."""


def _fetch(url: str, limit: int, timeout: float) -> bytes:
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) below
        url, headers={"User-Agent": "Internet10 hub agenda import", "Accept": "text/calendar"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(limit + 1)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise AgendaFetchError(f"could not fetch {url}: {exc}") from None
    if len(body) > limit:
        raise AgendaFetchError(f"{url} is larger than {limit} bytes")
    return body


async def fetch_agenda(url: str, *, limit: int = 2_000_000, read_timeout: float = 15.0) -> bytes:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AgendaFetchError("the agenda address must start with http:// or https://")
    return await asyncio.to_thread(_fetch, url, limit, read_timeout)
