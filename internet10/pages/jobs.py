"""The organisers' failed-jobs page: what the worker gave up on, its last error, a Retry button."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.jobs.worker import retry_failed
from internet10.pages.guard import name_invalid_fields
from internet10.services import failed_jobs
from internet10.services.auth import require_organiser
from internet10.web import current_principal, state

blueprint = Blueprint("jobs", __name__)
name_invalid_fields(blueprint)

NOTICES = frozenset({"retried", "gone"})


@blueprint.get("/organiser/jobs")
async def failed() -> str | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    async with st.db.read() as db:
        rows = await failed_jobs.failed_jobs(db, principal)
    done = request.args.get("done")
    return await render_template(
        "organiser/jobs.html",
        jobs=rows,
        limit=failed_jobs.LIMIT,
        done=done if done in NOTICES else None,
        job_id=request.args.get("job", type=int),
    )


@blueprint.post("/organiser/jobs/<int:job_id>/retry")
async def retry(job_id: int) -> WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    require_organiser(principal)
    st = state()
    queued = await retry_failed(st.db, job_id, now=st.now())
    return redirect(url_for("jobs.failed", done="retried" if queued else "gone", job=job_id))
