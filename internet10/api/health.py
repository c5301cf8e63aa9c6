"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import document_response
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from internet10.web import state

blueprint = Blueprint("health", __name__)


class Alive(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    failed: list[str] | None = None


@blueprint.get("/healthz")
@document_response(Alive, 200)
async def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@blueprint.get("/readyz")
@document_response(Readiness, 200)
@document_response(Readiness, 503)
async def readyz() -> tuple[dict[str, Any], int]:
    """The database and, when configured, Redis answer: 200, else 503 naming what failed."""
    st = state()
    checks: dict[str, str] = {}
    try:
        await st.db.ping()
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError) as exc:
        checks["database"] = f"failed: {type(exc).__name__}"
    if st.redis is not None:
        try:
            await st.redis.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as exc:
            checks["redis"] = f"failed: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    failed = [k for k, v in checks.items() if v != "ok"]
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
    return body, 200 if ok else 503
