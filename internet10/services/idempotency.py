"""Idempotency keys: the same key with the same body gets the first response again; the same key
with another body is refused. Call inside the same transaction as the change, after locking what
the change locks, so concurrent duplicates wait and then replay.

The stored response is encrypted with a key derived from the client's key and the service secret
(Fernet, from the ``cryptography`` package): the table alone reveals no access token."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import ValidationFailed
from internet10.models import IdempotencyRecord

KEEP = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def _fernet(secret: str, key: str) -> Fernet:
    raw = hashlib.sha256(f"{secret}\x00{key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def request_fingerprint(body: bytes) -> str:
    """Bodies that mean the same JSON (key order, spacing) have the same fingerprint."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, UnicodeDecodeError):
        return hashlib.sha256(body).hexdigest()
    return _hash(canonical)


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            field="Idempotency-Key",
        )
    return key


async def replay(
    db: AsyncSession, *, scope: str, key: str, fingerprint: str, secret: str, now: dt.datetime
) -> Replay | None:
    row = await db.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key_hash == _hash(key),
            IdempotencyRecord.created_at > now - KEEP,
        )
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise ValidationFailed(
            "This Idempotency-Key was used with a different request body.",
            code="IDEMPOTENCY_KEY_REUSED",
            field="Idempotency-Key",
        )
    try:
        body = json.loads(_fernet(secret, key).decrypt(row.body.encode()))
    except InvalidToken:  # the secret was rotated: the old response cannot be read back
        return None
    return Replay(row.status_code, body)


async def remember(
    db: AsyncSession,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    status_code: int,
    body: dict[str, Any],
    secret: str,
    now: dt.datetime,
) -> None:
    await db.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key_hash == _hash(key),
        )
    )
    token = _fernet(secret, key).encrypt(json.dumps(body).encode()).decode()
    db.add(
        IdempotencyRecord(
            scope=scope,
            key_hash=_hash(key),
            request_hash=fingerprint,
            status_code=status_code,
            body=token,
            created_at=now,
        )
    )
    await db.flush()


async def purge(db: AsyncSession, *, now: dt.datetime) -> int:
    result = await db.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= now - KEEP)
    )
    return int(getattr(result, "rowcount", 0) or 0)
