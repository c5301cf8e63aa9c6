"""CSRF protection for HTML forms: a per-session secret, a hidden field, a constant-time check.

Every state-changing request to a page (not the bearer-token API, not signed webhooks) must carry
the token; the check runs before the route (app.py), and then, for every page request, the text
no database can store is refused (guard.py).
"""

from __future__ import annotations

import secrets

from quart import request, session
from werkzeug.exceptions import BadRequest

from internet10.pages.guard import refuse_unstorable_input
from internet10.security import constant_time_equal

FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CSRFError(BadRequest):
    description = "The form's security token is missing or wrong. Reload the page and try again."


def csrf_token() -> str:
    token = session.get(FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return token


async def check_csrf() -> None:
    if request.method not in SAFE_METHODS:
        await _check_token()
    await refuse_unstorable_input(read_form=request.method not in SAFE_METHODS)


async def _check_token() -> None:
    expected = session.get(FIELD)
    form = await request.form
    given = form.get(FIELD) or request.headers.get("X-CSRF-Token", "")
    if not isinstance(expected, str) or not given or not constant_time_equal(expected, given):
        raise CSRFError()
