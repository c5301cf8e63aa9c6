"""The baseline: a raw ASGI callable, served by the same Hypercorn command as the app.

It answers every path and method with a fixed JSON body of about the size of the app's event JSON
(``EVENT_BODY``, 600 bytes), after reading the whole request body, so that a workload's baseline
costs what Hypercorn itself costs and nothing more. ``?status=NNN`` picks the status code, so a
workload whose app request answers 201 or 202 can give the baseline the same expected status.

``POST /webhooks/zoom`` is the webhook workload's counterpart of the app's route: it reads the
body, checks ``x-zm-signature`` (HMAC-SHA256 with ``INTERNET10_ZOOM_WEBHOOK_SECRET``, as the app
does) and the 5-minute timestamp window, and answers 200 ``{"status":"accepted"}``, or 401. It
stores nothing: the distance to the app is Quart, the JSON parse and the database write.

Serve it with ``python -m hypercorn bench.baseline:app``.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench import webhook

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_BYTES = 600


def _event_body(size: int) -> bytes:
    """An event-shaped JSON object padded (in ``description``) to exactly ``size`` bytes."""
    event: dict[str, Any] = {
        "bookings_need_approval": False,
        "capacity": 150,
        "description": "",
        "duration_minutes": 270,
        "ends_at": "2026-12-19T15:30:00Z",
        "id": 1,
        "kind": "internet10",
        "participant_target": 150,
        "public_url": "http://127.0.0.1:8000/events/1",
        "seats": None,
        "sequence": 1,
        "starts_at": "2026-12-19T11:00:00Z",
        "status": "published",
        "timezone": "Africa/Porto-Novo",
        "title": "Bench",
        "upstream_event": None,
        "venue": None,
    }
    bare = len(json.dumps(event, separators=(",", ":")).encode())
    event["description"] = "x" * max(0, size - bare)
    return json.dumps(event, separators=(",", ":")).encode()


EVENT_BODY = _event_body(BODY_BYTES)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(EVENT_BODY)).encode()),
]


_WEBHOOK_SECRET = os.environ.get(webhook.SECRET_ENV, "")  # read once, as the app's settings are
_ACCEPTED = b'{"status":"accepted"}'
_REFUSED = b'{"code":"BAD_SIGNATURE","message":"The signature does not match the body."}'


def _webhook_reply(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, bytes]:
    """The app's check, without the app: signature over the raw bytes, then the time window."""
    secret = _WEBHOOK_SECRET
    timestamp = signature = b""
    for name, value in headers:
        if name == b"x-zm-request-timestamp":
            timestamp = value
        elif name == b"x-zm-signature":
            signature = value
    if not secret or not signature or not timestamp.isdigit():
        return 401, _REFUSED
    expected = webhook.signature(secret, timestamp.decode("ascii"), body)
    if not hmac.compare_digest(expected.encode(), signature):
        return 401, _REFUSED
    if abs(time.time() - int(timestamp)) > webhook.TOLERANCE_SECONDS:
        return 401, _REFUSED
    return 200, _ACCEPTED


def _status(query_string: bytes) -> int:
    for part in query_string.split(b"&"):
        name, _, value = part.partition(b"=")
        if name == b"status" and value.isdigit() and 200 <= int(value) <= 599:
            return int(value)
    return 200


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == webhook.PATH and scope["method"] == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        status, body = _webhook_reply(scope["headers"], b"".join(chunks))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    more = True
    while more:  # read the request body, as the app does for a POST
        message = await receive()
        more = message.get("more_body", False)
    query: bytes = scope.get("query_string", b"")
    status = _status(query) if query else 200
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": EVENT_BODY})
