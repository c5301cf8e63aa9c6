"""Shared pydantic pieces for request validation: every error names its field."""

from __future__ import annotations

import datetime as dt
import unicodedata
import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

MIN_YEAR, MAX_YEAR = 2000, 2100


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


def _clean_text(value: str) -> str:
    value = value.strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _single_line(value: str) -> str:
    value = _clean_text(value)
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    if not value:
        raise ValueError("must not be empty")
    return value


def _iana_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{value[:64]!r} is not an IANA time zone (e.g. Africa/Porto-Novo)"
        ) from exc
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"must be between {MIN_YEAR} and {MAX_YEAR}")
    return value.astimezone(dt.UTC)


Line = Annotated[str, Field(max_length=200), AfterValidator(_single_line)]
Text = Annotated[str, Field(max_length=5000), AfterValidator(_clean_text)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_iana_zone)]
UTCDateTime = Annotated[AwareDatetime, AfterValidator(_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


def unstorable_text(data: object) -> tuple[str, str] | None:
    """The dotted path (``""`` for the document itself) of the first string in decoded JSON that
    no database column can hold, and why; None when every string can be kept.

    JSON may spell half a surrogate pair (``"\\ud800"``), which UTF-8 cannot encode, and NUL
    (``"\\u0000"``), which PostgreSQL's text refuses (SQLite keeps it): refused here, for every
    field of every body, rather than by the database as a 500."""
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = _unstorable(value)
            if problem:
                return path, problem
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                where = f"{path}.{key}" if path else str(key)
                problem = _unstorable(str(key))
                if problem:
                    return where, problem
                stack.append((where, item))
        elif isinstance(value, list):
            for index in reversed(range(len(value))):
                stack.append((f"{path}.{index}" if path else str(index), value[index]))
    return None


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (a lone surrogate escape is not)"
    return None


def iso_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
