"""The applicant's form fields, shared by the public registration form and the hub door's walk-in
form: the choices offered (countries, chapters) and reading what was typed."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import MultiDict

from internet10.errors import ValidationFailed
from internet10.models import Chapter
from internet10.services.auth import normalise_email
from internet10.services.checkin import folded
from internet10.services.registration import Applicant

NAME_MAX = 200
EMAIL_MAX = 320
CHAPTER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
LANGUAGES = ("fr", "en")
MODES = ("online", "in_person")
# Two-letter codes in CLDR's territory list that name no country.
NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})

Form = MultiDict[str, str]


@lru_cache(maxsize=8)
def countries(language: str) -> tuple[tuple[str, str], ...]:
    """(ISO code, localised name) sorted by name as a reader of ``language`` expects."""
    names = Locale.parse(language).territories
    rows = [
        (code, name)
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    ]
    return tuple(sorted(rows, key=lambda row: (folded(row[1]), row[0])))


def is_country(code: str) -> bool:
    return any(c == code for c, _name in countries("en"))


@dataclass(frozen=True)
class ChapterChoice:
    code: str
    name: str


async def chapter_choices(db: AsyncSession) -> list[ChapterChoice]:
    rows = await db.execute(select(Chapter.code, Chapter.name).order_by(Chapter.code))
    return [ChapterChoice(code, name) for code, name in rows]


def _line(raw: str) -> str | None:
    value = " ".join(raw.split())
    if not value or len(value) > NAME_MAX:
        return None
    if any(unicodedata.category(c) == "Cc" for c in value):
        return None
    return value


def read_applicant(form: Form, *, modes: tuple[str, ...]) -> tuple[Applicant | None, list[str]]:
    """The applicant typed in, or the fields to correct (in the form's order). ``modes`` are
    the attendance modes this event offers."""
    invalid: list[str] = []
    name = _line(form.get("name", ""))
    if name is None:
        invalid.append("name")
    email = form.get("email", "").strip()
    try:
        if len(email) > EMAIL_MAX:
            raise ValidationFailed("too long", field="email")
        normalise_email(email)
    except ValidationFailed:
        invalid.append("email")
    country = form.get("country", "").strip().upper()
    if not is_country(country):
        invalid.append("country")
    language = form.get("language", "")
    if language not in LANGUAGES:
        invalid.append("language")
    chapter = form.get("chapter", "").strip()
    if chapter and not CHAPTER_CODE.match(chapter):
        invalid.append("chapter")
    mode = form.get("mode", modes[0])
    if mode not in modes:
        invalid.append("mode")
    if invalid or name is None:
        return None, invalid
    return (
        Applicant(
            name=name,
            email=email,
            country=country,
            language=language,
            mode=mode,
            chapter_code=chapter.upper() or None,
        ),
        [],
    )
