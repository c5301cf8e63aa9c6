"""Edge helpers shared by the API and the pages: the app state, the caller, the language."""

from __future__ import annotations

from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quart import current_app, g, request
from quart_auth import current_user

from internet10.errors import NotAuthenticated
from internet10.services.auth import Principal, authenticate_token, principal_for_user
from internet10.services.google_sync import GooglePolicy, policy_for
from internet10.services.meetings import MeetingPolicy
from internet10.state import AppState

LANGUAGES = ("fr", "en")
LANG_COOKIE = "lang"


def state() -> AppState:
    return cast(AppState, current_app.extensions["internet10"])


def meeting_policy() -> MeetingPolicy:
    settings = state().settings
    return MeetingPolicy(
        enabled=settings.zoom_configured, host_capacity=settings.zoom_host_capacity
    )


def google_policy() -> GooglePolicy:
    return policy_for(state().settings)


async def current_principal() -> Principal | None:
    """The staff member making this request: bearer token first, then the login cookie.

    A bearer header that does not authenticate is an error (401), never silently anonymous.
    """
    if "principal" in g:
        return cast(Principal | None, g.principal)
    principal: Principal | None = None
    header = request.headers.get("Authorization", "")
    st = state()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("Use 'Authorization: Bearer <token>'.")
        async with st.db.read() as db:
            principal = await authenticate_token(db, token.strip(), now=st.now())
    elif await current_user.is_authenticated:
        user_id = current_user.auth_id
        if user_id is not None and user_id.isdigit():
            async with st.db.read() as db:
                principal = await principal_for_user(db, int(user_id))
    g.principal = principal
    return principal


def select_language() -> str:
    """Explicit choice (``?lang=``), then the remembered cookie, then Accept-Language."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LANGUAGES:
        return remembered
    best = request.accept_languages.best_match(LANGUAGES)
    return best or state().settings.default_language


TZ_COOKIE = "tz"


def _known_zone(name: str | None) -> str | None:
    if not name or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def viewer_zone(fallback: str) -> str:
    """The zone to show times in: the visitor's choice (``?tz=``), then the zone their browser
    reported (cookie set by tz.js), then ``fallback`` (the event's zone)."""
    return (
        _known_zone(request.args.get("tz"))
        or _known_zone(request.cookies.get(TZ_COOKIE))
        or fallback
    )


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
