"""Translations outside a request (mail, jobs): the same catalogs the pages use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

ROOT = Path(__file__).resolve().parent
TRANSLATIONS = ROOT / "translations"
MAIL_TEMPLATES = ROOT.parent / "templates" / "mail"
LANGUAGES = ("fr", "en")


@lru_cache(maxsize=len(LANGUAGES))
def mail_environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(MAIL_TEMPLATES)),
        extensions=["jinja2.ext.i18n"],
        autoescape=False,  # noqa: S701 - plain-text mail: nothing is rendered as HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    translations = _translations(language)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
    env.filters["when"] = lambda value, zone: format_when(value, zone, language)
    return env


@lru_cache(maxsize=len(LANGUAGES))
def _translations(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [language])


def translator(language: str) -> Callable[[str], str]:
    """gettext for ``language``; the catalog is read from disk once per process."""
    return _translations(language).gettext


def format_when(value: dt.datetime, zone: str, language: str) -> str:
    local = value.astimezone(ZoneInfo(zone))
    day = format_date(local, "full", locale=language)
    return f"{day}, {format_time(local, 'short', locale=language)}"


def render_mail(template: str, language: str, **context: object) -> tuple[str, str]:
    """(subject, body): the template's first line is the subject, the rest after a blank line."""
    rendered = (
        mail_environment(language if language in LANGUAGES else "fr")
        .get_template(template)
        .render(**context)
    )
    subject, _, body = rendered.partition("\n\n")
    return subject.strip(), body.strip() + "\n"
