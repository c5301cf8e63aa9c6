"""Zoom's webhooks: verified over the raw body bytes, stored, acknowledged; processed by a job.

Zoom retries a delivery not acknowledged within 3 seconds, so this handler only verifies, stores
and enqueues (one transaction); ``services.attendance`` does the work in the ``zoom.webhook`` job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from quart import Blueprint, request
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from integrations.zoom import webhook_signature
from internet10.services import attendance
from internet10.web import state

blueprint = Blueprint("webhooks", __name__)

MAX_BODY_BYTES = 256 * 1024  # Zoom's payloads are a few KB; the app-wide limit is larger
TOLERANCE_SECONDS = 300  # Zoom's advice: reject timestamps more than 5 minutes away

Reply = tuple[dict[str, Any], int]


def _refused(code: str, message: str) -> Reply:
    return {"code": code, "message": message}, 401


def _malformed(message: str) -> Reply:
    return {"code": "MALFORMED_BODY", "message": message}, 400


def _verify(secret: str, raw: bytes, now_seconds: float) -> Reply | None:
    """None when the signature is Zoom's and fresh, else the 401 to answer."""
    timestamp = request.headers.get("x-zm-request-timestamp", "")
    signature = request.headers.get("x-zm-signature", "")
    if not signature or not timestamp.isascii() or not timestamp.isdigit():
        return _refused("BAD_SIGNATURE", "x-zm-signature or x-zm-request-timestamp is missing.")
    expected = webhook_signature(secret, timestamp, raw)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return _refused("BAD_SIGNATURE", "The signature does not match the body.")
    if abs(now_seconds - int(timestamp)) > TOLERANCE_SECONDS:
        return _refused(
            "STALE_TIMESTAMP",
            f"x-zm-request-timestamp is more than {TOLERANCE_SECONDS} seconds away from now.",
        )
    return None


@blueprint.post("/webhooks/zoom")
async def zoom() -> Reply:
    """Zoom's event notifications. 404 when no webhook secret is configured."""
    st = state()
    secret = st.settings.zoom_webhook_secret
    if not secret:
        raise NotFound()
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    if len(raw) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    now = st.now()
    refused = _verify(secret, raw, now.timestamp())
    if refused is not None:
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
