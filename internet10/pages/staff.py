"""Staff sign-in (password or one-time link), password reset by e-mail, sign-out, and the staff
landing page."""

from __future__ import annotations

from quart import Blueprint, g, redirect, render_template, request, url_for
from quart_auth import AuthUser, login_user, logout_user
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import NotAuthenticated, ValidationFailed
from internet10.pages.guard import name_invalid_fields
from internet10.services import auth
from internet10.services import events as events_service
from internet10.web import current_principal, state

blueprint = Blueprint("staff", __name__)
name_invalid_fields(blueprint)


@blueprint.get("/login")
async def login_form() -> str:
    return await render_template("staff/login.html", error=None, email="")


@blueprint.post("/login")
async def login_submit() -> str | WerkzeugResponse | tuple[str, int]:
    form = await request.form
    email = form.get("email", "")[:320]
    password = form.get("password", "")[:1024]
    st = state()
    try:
        async with st.db.read() as db:
            principal = await auth.authenticate_password(db, email, password)
    except NotAuthenticated:
        return await render_template("staff/login.html", error="bad-credentials", email=email), 401
    login_user(AuthUser(str(principal.user_id)), remember=False)
    return redirect(url_for("staff.home"))


@blueprint.get("/login/link/<token>")
async def login_link(token: str) -> str:
    """Show a button: following a link must not sign in by itself (link previewers fetch it)."""
    return await render_template("staff/login_link.html", token=token)


@blueprint.post("/login/link/<token>")
async def login_link_use(token: str) -> WerkzeugResponse | tuple[str, int]:
    st = state()
    try:
        async with st.db.write() as db:
            principal = await auth.consume_login_link(db, token[:200], now=st.now())
    except NotAuthenticated:
        return await render_template("staff/login.html", error="bad-link", email=""), 401
    login_user(AuthUser(str(principal.user_id)), remember=False)
    return redirect(url_for("staff.home"))


@blueprint.get("/login/reset")
async def reset_form() -> str:
    return await render_template("staff/reset_request.html", error=None, email="", sent=False)


@blueprint.post("/login/reset")
async def reset_request() -> str | tuple[str, int]:
    """The same answer whether or not the address has an account."""
    form = await request.form
    email = form.get("email", "")[:320]
    st = state()
    try:
        async with st.db.write() as db:
            await auth.request_password_reset(db, email, language=g.language, now=st.now())
    except ValidationFailed:
        page = await render_template(
            "staff/reset_request.html", error="email", email=email, sent=False
        )
        return page, 422
    return await render_template("staff/reset_request.html", error=None, email="", sent=True)


@blueprint.get("/login/reset/<token>")
async def reset_link(token: str) -> str | tuple[str, int]:
    """The new-password form; opening the link does not use it up (link previewers fetch it)."""
    st = state()
    try:
        async with st.db.read() as db:
            await auth.check_reset_link(db, token[:200], now=st.now())
    except NotAuthenticated:
        return await render_template("staff/login.html", error="bad-reset", email=""), 401
    return await render_template("staff/reset_password.html", token=token, error=None)


@blueprint.post("/login/reset/<token>")
async def reset_password(token: str) -> str | WerkzeugResponse | tuple[str, int]:
    form = await request.form
    password = form.get("password", "")[: auth.PASSWORD_MAX + 1]
    if password != form.get("confirm", "")[: auth.PASSWORD_MAX + 1]:
        page = await render_template("staff/reset_password.html", token=token, error="mismatch")
        return page, 422
    st = state()
    try:
        async with st.db.write() as db:
            principal = await auth.reset_password(db, token[:200], password, now=st.now())
    except ValidationFailed:
        page = await render_template("staff/reset_password.html", token=token, error="length")
        return page, 422
    except NotAuthenticated:
        return await render_template("staff/login.html", error="bad-reset", email=""), 401
    login_user(AuthUser(str(principal.user_id)), remember=False)
    return redirect(url_for("staff.home", done="password"))


@blueprint.post("/logout")
async def logout() -> WerkzeugResponse:
    logout_user()
    return redirect(url_for("public.home", done="signed-out"))


@blueprint.get("/staff")
async def home() -> str | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    async with st.db.read() as db:
        rows = await events_service.list_events(db, principal)
    return await render_template(
        "staff/home.html", principal=principal, events=rows, done=request.args.get("done")
    )
