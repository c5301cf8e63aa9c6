"""Zoom's webhooks: verified over the raw body bytes, stored, acknowledged; processed by a job.

Zoom retries a delivery not acknowledged within 3 seconds, so this handler only verifies, stores
and enqueues (one transaction); ``services.attendance`` does the work in the ``zoom.webhook`` job.

Checks run cheapest first: the headers (present, well formed, timestamp fresh) before the body is
read; the body's size while it is read (413 as soon as it passes ``MAX_BODY_BYTES``); the HMAC.
Only refusals before authentication (401, 408, 413) count against the client address's
``INTERNET10_ZOOM_WEBHOOK_REFUSALS_PER_MINUTE``; past it, they are answered 429. A correctly
signed delivery is never counted nor limited, even from an address that is: Zoom shares its
addresses (and a proxy may hide them), and a valid delivery must not be dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from typing import Any, Literal

from pydantic import BaseModel
from quart import Blueprint, request
from quart_schema import document_response
from werkzeug.exceptions import NotFound, RequestEntityTooLarge, RequestTimeout

from integrations.zoom import webhook_signature
from internet10.api.schemas import ErrorBody
from internet10.ratelimit import Limit, enforce
from internet10.services import attendance
from internet10.state import AppState
from internet10.web import state

blueprint = Blueprint("webhooks", __name__)

MAX_BODY_BYTES = 256 * 1024  # Zoom's payloads are a few KB; the app-wide limit is larger
TOLERANCE_SECONDS = 300  # Zoom's advice: reject timestamps more than 5 minutes away
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # what webhook_signature gives: lowercase hex
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds (ten digits until the year 2286)

Reply = tuple[dict[str, Any], int]


class WebhookReply(BaseModel):
    """``status`` for an event notification; the two tokens for ``endpoint.url_validation``."""

    status: Literal["accepted", "ignored"] | None = None
    plainToken: str | None = None
    encryptedToken: str | None = None


def _refused(code: str, message: str) -> Reply:
    return {"code": code, "message": message}, 401


def _malformed(message: str) -> Reply:
    return {"code": "MALFORMED_BODY", "message": message}, 400


def _check_headers(now_seconds: float) -> Reply | None:
    """None when the headers could be Zoom's (the body is not read yet), else the 401."""
    timestamp = request.headers.get("x-zm-request-timestamp", "")
    signature = request.headers.get("x-zm-signature", "")
    if not signature or not timestamp:
        return _refused("BAD_SIGNATURE", "x-zm-signature or x-zm-request-timestamp is missing.")
    if not TIMESTAMP.fullmatch(timestamp):
        return _refused("BAD_SIGNATURE", "x-zm-request-timestamp is not a Unix time in seconds.")
    if not SIGNATURE.fullmatch(signature):
        return _refused("BAD_SIGNATURE", "x-zm-signature is not of the form v0=<64 hex digits>.")
    if abs(now_seconds - int(timestamp)) > TOLERANCE_SECONDS:
        return _refused(
            "STALE_TIMESTAMP",
            f"x-zm-request-timestamp is more than {TOLERANCE_SECONDS} seconds away from now.",
        )
    return None


def _check_signature(secret: str, raw: bytes) -> Reply | None:
    """None when the signature is Zoom's over these exact bytes, else the 401."""
    timestamp = request.headers["x-zm-request-timestamp"]
    expected = webhook_signature(secret, timestamp, raw)
    if not hmac.compare_digest(expected, request.headers["x-zm-signature"]):
        return _refused("BAD_SIGNATURE", "The signature does not match the body.")
    return None


async def _read_body() -> bytes:
    """The raw body, read no further than ``MAX_BODY_BYTES`` + 1 (then 413), within the app's
    body timeout (then 408): a huge or endless body costs at most that much."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    raw = bytearray()
    try:
        async with asyncio.timeout(request.body_timeout):
            async for chunk in request.body:
                raw += chunk
                if len(raw) > MAX_BODY_BYTES:
                    raise RequestEntityTooLarge()
    except TimeoutError as exc:
        raise RequestTimeout() from exc
    return bytes(raw)


async def _count_refusal(st: AppState) -> None:
    """Count a refusal against the client's address; raises ``RateLimited`` (429) past the limit."""
    limit = Limit("zoom-webhook-refused", st.settings.zoom_webhook_refusals_per_minute)
    await enforce(st.limiter, limit, request.remote_addr or "unknown")


@blueprint.post("/webhooks/zoom")
@document_response(WebhookReply, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 401)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 408)
@document_response(ErrorBody, 413)
@document_response(ErrorBody, 429)
async def zoom() -> Reply:
    """Zoom's event notifications. 404 when no webhook secret is configured."""
    st = state()
    secret = st.settings.zoom_webhook_secret
    if not secret:
        raise NotFound()
    now = st.now()
    refused = _check_headers(now.timestamp())
    raw = b""
    if refused is None:
        try:
            raw = await _read_body()
        except (RequestEntityTooLarge, RequestTimeout):
            await _count_refusal(st)
            raise
        refused = _check_signature(secret, raw)
    if refused is not None:
        await _count_refusal(st)
        return refused
    try:
        envelope = json.loads(raw)
    except ValueError:  # includes bytes that are not UTF-8
        return _malformed("The body is not JSON.")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
        return _malformed("The body is not a Zoom event notification.")
    kind: str = envelope["event"]
    if kind == "endpoint.url_validation":
        payload = envelope.get("payload")
        plain = payload.get("plainToken") if isinstance(payload, dict) else None
        if not isinstance(plain, str) or not plain:
            return _malformed("payload.plainToken is missing.")
        encrypted = hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
        return {"plainToken": plain, "encryptedToken": encrypted}, 200
    if kind not in attendance.HANDLED:
        return {"status": "ignored"}, 200
    try:
        async with st.db.write() as db:
            await attendance.record_delivery(db, raw, kind, envelope, now=now)
    except attendance.MalformedDelivery as exc:
        return _malformed(str(exc))
    return {"status": "accepted"}, 200
