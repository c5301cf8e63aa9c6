"""Text no database column can hold, refused before any page route runs.

PostgreSQL's text types refuse NUL (SQLite keeps it), so a NUL in a form field, a query
parameter or a URL segment reached the database as an error (a 500) wherever a page looked a
value up or stored it. Refused here, for every page at once, naming the field. (Forms decode
invalid UTF-8 to U+FFFD, so NUL is the one character a form can carry that cannot be stored.)
"""

from __future__ import annotations

from collections.abc import Iterable

from quart import Blueprint, g, render_template, request
from werkzeug.exceptions import NotFound

from internet10.errors import ValidationFailed

NUL = "\x00"


def _first_with_nul(pairs: Iterable[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if NUL in name or NUL in value:
            return name.replace(NUL, "")
    return None


async def refuse_unstorable_input(*, read_form: bool) -> None:
    """A URL segment with NUL names nothing (404); a query or form field with NUL is a 422 that
    names the field (``g.invalid_field``, shown by the error page)."""
    segments = (
        (name, value) for name, value in (request.view_args or {}).items() if isinstance(value, str)
    )
    if _first_with_nul(segments) is not None:
        raise NotFound()
    pairs = list(request.args.items(multi=True))
    if read_form:
        pairs += list((await request.form).items(multi=True))
    field = _first_with_nul(pairs)
    if field is not None:
        g.invalid_field = field
        raise ValidationFailed(f"{field}: must not contain NUL characters", field=field)


def name_invalid_fields(blueprint: Blueprint) -> None:
    """The blueprint's pages answer a ValidationFailed no route caught with the error page
    naming the field (the app-wide handler, shared with the JSON API, shows a generic page)."""

    @blueprint.errorhandler(ValidationFailed)
    async def _invalid(exc: ValidationFailed) -> tuple[str, int]:
        if exc.field:
            g.invalid_field = exc.field
        html = await render_template("errors/error.html", status=exc.status, message=exc.message)
        return html, exc.status
