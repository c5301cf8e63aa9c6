"""Typed settings, read once at start-up from ``INTERNET10_*`` environment variables."""

from __future__ import annotations

import secrets
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "INTERNET10_"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable and the value."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    database_url: str = "sqlite+aiosqlite:///var/internet10.sqlite3"
    database_pool_size: Annotated[int, Field(ge=1, le=500)] = 10
    database_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    redis_url: str | None = None
    live_heartbeat_seconds: Annotated[float, Field(gt=0, le=300)] = 15.0
    secret_key: Annotated[str, Field(min_length=32)] = ""
    base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    default_language: Literal["fr", "en"] = "fr"
    default_timezone: str = "Africa/Porto-Novo"
    demo: bool = False
    secure_cookies: bool = True
    smtp_url: str | None = None
    mail_from: str = "Internet10 <no-reply@internet10.invalid>"
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    registration_rate_per_minute: Annotated[int, Field(ge=0, le=1_000_000)] = 20
    qa_question_rate_per_minute: Annotated[int, Field(ge=0, le=1_000_000)] = 3
    qa_vote_rate_per_minute: Annotated[int, Field(ge=0, le=1_000_000)] = 30
    # Operations: logs, metrics, the load balancer in front, the job worker's lease.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: str | None = None
    proxy_hops: Annotated[int, Field(ge=0, le=10)] = 0
    job_lease_seconds: Annotated[float, Field(gt=0, le=86_400)] = 300.0

    zoom_account_id: str | None = None
    zoom_client_id: str | None = None
    zoom_client_secret: str | None = None
    zoom_webhook_secret: str | None = None
    # Unsigned, forged or oversized webhook requests one address may send per minute before its
    # refusals become 429s (0: no limit). Correctly signed deliveries never count nor wait.
    zoom_webhook_refusals_per_minute: Annotated[int, Field(ge=0, le=1_000_000)] = 30
    zoom_api_url: AnyHttpUrl = AnyHttpUrl("https://api.zoom.us/v2")
    zoom_oauth_url: AnyHttpUrl = AnyHttpUrl("https://zoom.us/oauth/token")
    zoom_host_capacity: Annotated[int, Field(ge=1, le=100_000)] = 100
    zoom_calls_per_second: Annotated[float, Field(gt=0, le=100)] = 20.0
    attendance_min_minutes: Annotated[float, Field(ge=0, le=600)] = 1.0

    # Google: a service-account key for Calendar, a user's stored token for YouTube (its API
    # refuses service accounts). The endpoint overrides point at the stand-in (tests, demo).
    google_credentials: str | None = None
    google_calendar_id: str | None = None
    youtube_token_file: str | None = None
    youtube_client_secrets: str | None = None
    google_calendar_api_url: AnyHttpUrl | None = None
    youtube_api_url: AnyHttpUrl | None = None
    google_token_uri: AnyHttpUrl | None = None
    google_auth_uri: AnyHttpUrl | None = None
    youtube_watch_url: AnyHttpUrl = AnyHttpUrl("https://www.youtube.com/watch?v=")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("smtp_url")
    @classmethod
    def _known_smtp(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        return value or None

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _zoom_complete(self) -> Settings:
        zoom = {
            "zoom_account_id": self.zoom_account_id,
            "zoom_client_id": self.zoom_client_id,
            "zoom_client_secret": self.zoom_client_secret,
        }
        given = [k for k, v in zoom.items() if v]
        if given and len(given) != len(zoom):
            missing = sorted(set(zoom) - set(given))
            raise ValueError(
                f"{ENV_PREFIX}{missing[0].upper()} is missing; "
                "it is required when Zoom is configured"
            )
        return self

    @model_validator(mode="after")
    def _google_calendar_complete(self) -> Settings:
        if bool(self.google_credentials) != bool(self.google_calendar_id):
            missing = "google_calendar_id" if self.google_credentials else "google_credentials"
            raise ValueError(
                f"{ENV_PREFIX}{missing.upper()} is missing; "
                "it is required when Google Calendar is configured"
            )
        return self

    @property
    def zoom_configured(self) -> bool:
        return bool(self.zoom_account_id)

    @property
    def google_calendar_configured(self) -> bool:
        return bool(self.google_credentials and self.google_calendar_id)

    @property
    def youtube_configured(self) -> bool:
        return bool(self.youtube_token_file)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url_str(self) -> str:
        return str(self.base_url).rstrip("/")


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def known_variables() -> frozenset[str]:
    return frozenset(env_name(name) for name in Settings.model_fields)


def load_settings(environ: Mapping[str, str], **overrides: object) -> Settings:
    """Build settings from ``environ`` (never read at import time).

    A demo without ``INTERNET10_SECRET_KEY`` gets a random one per process; outside the demo the
    key is required.
    """
    values: dict[str, object] = {}
    for name in Settings.model_fields:
        raw = environ.get(env_name(name))
        if raw is not None and raw != "":
            values[name] = raw
    values.update(overrides)
    if not values.get("secret_key") and values.get("demo") in (True, "1", "true", "True"):
        values["secret_key"] = secrets.token_urlsafe(32)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, values)) from None


def _describe(exc: ValidationError, values: Mapping[str, object]) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        if not loc:
            lines.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        field = loc[0]
        if field == "secret_key" and not values.get(field):
            lines.append(
                f"{env_name(field)} is missing; set it to a random string of at least 32 "
                "characters (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
            continue
        shown = values.get(field, "")
        if field == "secret_key" or "secret" in field or field == "metrics_token":
            shown = "<hidden>"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{env_name(field)}={shown!s}: {msg}")
    return "; ".join(lines)
