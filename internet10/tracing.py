"""The request id: one per HTTP request, carried into the jobs the request enqueues and into the
jobs those enqueue, so one id finds a request's log line and every job line that followed it.

An incoming ``X-Request-ID`` is kept when it looks like an id (a load balancer's, a client's),
else a new one is made. The id lives in a context variable: each request (and each job the worker
runs) has its own asyncio context, so concurrent requests never see each other's id."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-ID"
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # what we keep from outside: no spaces, no quotes

request_id: ContextVar[str | None] = ContextVar("internet10_request_id", default=None)


def new_request_id() -> str:
    return secrets.token_hex(12)


def from_header(value: str | None) -> str:
    """The caller's id when it is a plausible one, else a new id."""
    if value is not None and ACCEPTED.fullmatch(value):
        return value
    return new_request_id()
