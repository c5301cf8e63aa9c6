"""Zoom webhook deliveries for the ``webhook_ingest`` workload: envelopes, signatures, the secret.

The app and the baseline are both started with ``INTERNET10_ZOOM_WEBHOOK_SECRET`` set to
:func:`secret` (one random value per bench process), so a body signed here passes both servers'
checks. Bodies are serialised with ``ensure_ascii=False``, as Zoom sends them: names such as
"Aïcha Zinsou" travel as UTF-8 bytes, and the signature is over those exact bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import secrets as _secrets
import time
from collections.abc import Mapping
from typing import Any

SECRET_ENV = "INTERNET10_ZOOM_WEBHOOK_SECRET"  # noqa: S105 (the variable's name, not a secret)
PATH = "/webhooks/zoom"
TOLERANCE_SECONDS = 300  # the app's window (internet10/api/webhooks.py), Zoom's advice

JOINED = "meeting.participant_joined"
LEFT = "meeting.participant_left"

# (display name, e-mail); an empty e-mail is someone outside the host's account, as Zoom sends it
PEOPLE: tuple[tuple[str, str], ...] = (
    ("Aïcha Zinsou", "aicha.zinsou@isoc-bj.example"),
    ("Ngozi Okonkwo-Adébáyọ̀", "ngozi.okonkwo@isoc-ng.example"),
    ("李雷", ""),
    ("Koffi Mensah", "koffi.mensah@isoc-gh.example"),
    ("Fatou Diop", "fatou.diop@isoc-sn.example"),
    ("José Antônio Conceição", ""),
    ("Ẹniọlá Àlàbí", "eniola.alabi@isoc-ng.example"),
    ("Siddharth Rao", "s.rao@isoc-in.example"),
    ("Hélène Gbaguidi", "helene.gbaguidi@isoc-bj.example"),
    ("Wanjiru Kamau", ""),
    ("Ахмед Нуриев", ""),
    ("Marie-Ève Tremblay", "me.tremblay@isoc-ca.example"),
)

MEETING: Mapping[str, Any] = {
    "id": "85012345678",
    "uuid": "4xQ8n6ZrTz2bC1kq7VdM1w==",
    "host_id": "z8yCxjabcdEFGHfp8uQ",
    "topic": "Internet10 — dix chapitres, dix pays",
    "type": 2,
    "start_time": "2026-12-19T11:00:00Z",
    "timezone": "Africa/Porto-Novo",
    "duration": 270,
}
ACCOUNT_ID = "AAbbCCddEEffGGhh0123"
_MEETING_START = dt.datetime(2026, 12, 19, 11, 0, tzinfo=dt.UTC)


@functools.cache
def secret() -> str:
    """The webhook secret token of this bench process (random, never written anywhere)."""
    return _secrets.token_urlsafe(32)


def server_env() -> dict[str, str]:
    """What the app and the baseline need in their environment to verify our signatures."""
    return {SECRET_ENV: secret()}


def signature(secret_token: str, timestamp: str, body: bytes) -> str:
    """Zoom's ``x-zm-signature``: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret_token.encode("utf-8"), message, hashlib.sha256).hexdigest()


def envelope(run_id: str, n: int) -> dict[str, Any]:
    """The ``n``-th delivery of a run: joined and left in turn, each person and time distinct.

    ``participant_uuid`` carries the run id and ``n``, so no two bodies of a bench process are
    the same bytes (the app stores a body once: equal bodies would be redeliveries)."""
    kind = JOINED if n % 2 == 0 else LEFT
    name, email = PEOPLE[(n // 2) % len(PEOPLE)]
    person = n // 2
    joined_at = _MEETING_START + dt.timedelta(seconds=person % 3600)
    participant: dict[str, Any] = {
        "user_id": str(16_778_240 + person),
        "user_name": name,
        "id": f"iFxeBPYun6SAiWUzBcEkX{person:06d}",
        "participant_uuid": f"{run_id}-{person:07d}",
        "registrant_id": f"rg{run_id}{person:07d}" if email else "",
        "email": email,
        "participant_user_id": f"iFxeBPYun6SAiWUzBcEkX{person:06d}",
    }
    if kind == JOINED:
        participant["join_time"] = _zoom_time(joined_at)
    else:
        participant["leave_time"] = _zoom_time(joined_at + dt.timedelta(minutes=47))
        participant["leave_reason"] = f"{name} left the meeting. Reason : left the meeting"
    return {
        "event": kind,
        "event_ts": 1_797_678_000_000 + n,
        "payload": {
            "account_id": ACCOUNT_ID,
            "object": {**MEETING, "participant": participant},
        },
    }


def _zoom_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def bodies(run_id: str, start: int, count: int) -> list[bytes]:
    """Deliveries ``start`` .. ``start + count - 1`` of a run, as Zoom's raw JSON bytes."""
    return [
        json.dumps(envelope(run_id, n), ensure_ascii=False, separators=(",", ":")).encode()
        for n in range(start, start + count)
    ]


def sign_all(body_list: list[bytes], now: float | None = None) -> list[dict[str, str]]:
    """The headers of each body, signed with the current time (do this just before sending)."""
    timestamp = str(int(time.time() if now is None else now))
    key = secret()
    return [
        {
            "Content-Type": "application/json; charset=utf-8",
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": signature(key, timestamp, body),
        }
        for body in body_list
    ]
