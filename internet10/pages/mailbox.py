"""The demo's mailbox page: what the service would have e-mailed (demo only, organisers only)."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from integrations.mail.mailbox import FileMailbox
from internet10.errors import Forbidden
from internet10.pages.guard import name_invalid_fields
from internet10.web import current_principal, state

blueprint = Blueprint("mailbox", __name__)
name_invalid_fields(blueprint)


@blueprint.get("/dev/mailbox")
async def mailbox() -> str | WerkzeugResponse:
    st = state()
    if not st.settings.demo or not isinstance(st.mailer, FileMailbox):
        raise NotFound()
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    if not principal.is_organiser:
        raise Forbidden("Only organisers read the demo mailbox.")
    return await render_template("staff/mailbox.html", messages=st.mailer.read())
