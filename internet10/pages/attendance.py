"""Attendance pages: the live dashboard (organisers and the event's moderators), its chart as PNG,
the event's report as a page and a PDF, the organisers' exports (CSV, JSON) and the year's view.

The dashboard works without JavaScript (a Refresh link); with it, attendance.js swaps in the
figures' fragment (``?fragment=1``) when the live channel says attendance or the running order
changed. Times are shown in the event's zone, which the pages name.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup
from quart import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import NotFound
from internet10.i18n import translator
from internet10.pages.charts import Band, ChartWords, bars_svg, concurrency_svg
from internet10.pages.documents import html_to_pdf, svg_to_png
from internet10.pages.guard import name_invalid_fields
from internet10.services import attendance_figures, live, reports
from internet10.services.attendance_figures import EventFigures
from internet10.web import current_principal, state

blueprint = Blueprint("attendance", __name__)
name_invalid_fields(blueprint)

STATIC = Path(__file__).resolve().parent.parent / "static"
PRIVATE = {"Cache-Control": "private, no-store"}
FIRST_YEAR, LAST_YEAR = 2000, 2100

Page = str | tuple[str, int] | Response | WerkzeugResponse


@dataclass(frozen=True)
class Formats:
    """Numbers and times in the reader's language; times in the event's zone."""

    language: str
    zone: ZoneInfo

    def time(self, moment: dt.datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M") if moment else "—"

    def date(self, moment: dt.datetime) -> str:
        return format_date(moment.astimezone(self.zone), "full", locale=self.language)

    def percent(self, share: float) -> str:
        return str(format_percent(share, locale=self.language))

    def number(self, value: float) -> str:
        return str(format_decimal(value, format="#,##0.#", locale=self.language))

    def minutes(self, value: int | None) -> str:
        if value is None:
            return "—"
        return f"{value:+d}" if value else "0"


def charts(
    found: EventFigures,
    *,
    language: str,
    now: dt.datetime,
    standalone: bool = False,
) -> tuple[Markup, Markup]:
    """(concurrency chart, funnel chart) of an event, labelled in ``language``."""
    _ = translator(language)
    event, f = found.event, found.figures
    fmt = Formats(language, ZoneInfo(event.timezone))
    if f.peak_at is not None:
        desc = _(
            "%(attended)s people attended (target %(target)s); at most %(peak)s at once, "
            "at %(time)s (%(zone)s)."
        ) % {
            "attended": f.attended,
            "target": f.target,
            "peak": f.peak,
            "time": fmt.time(f.peak_at),
            "zone": event.timezone,
        }
    else:
        desc = _("No one has attended yet.")
    words = ChartWords(
        title=_("People present at once, over time"),
        desc=desc,
        target=_("Target: %(count)s") % {"count": f.target},
        peak=_("Peak: %(count)s at %(time)s") % {"count": f.peak, "time": fmt.time(f.peak_at)},
        empty=_("No one has attended yet."),
        now=_("now"),
    )
    concurrency = concurrency_svg(
        f.timeline,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        now=now,
        target=f.target,
        peak=f.peak,
        peak_at=f.peak_at,
        zone=fmt.zone,
        clock=fmt.time,
        words=words,
        bands=[Band(s.chapter or str(s.position), s.starts_at, s.ends_at) for s in found.slots],
        standalone=standalone,
    )
    funnel = found.funnel
    bars = bars_svg(
        [
            (_("Registered"), funnel.registered),
            (_("Clicked Join"), funnel.clicked_join),
            (_("Attended"), funnel.attended),
        ],
        title=_("From registration to attendance"),
        desc=_("%(registered)s registered, %(clicked)s clicked Join, %(attended)s attended.")
        % {
            "registered": funnel.registered,
            "clicked": funnel.clicked_join,
            "attended": funnel.attended,
        },
        standalone=standalone,
    )
    return concurrency, bars


def quarter_hours(
    timeline: Sequence[tuple[dt.datetime, int]], *, now: dt.datetime, minutes: int = 15
) -> list[tuple[dt.datetime, int]]:
    """The most people present at once in each quarter hour from the first arrival to the last
    change (or ``now``): the chart's numbers as a table."""
    if not timeline:
        return []
    step = dt.timedelta(minutes=minutes)
    first = timeline[0][0]
    start = first.replace(minute=first.minute - first.minute % minutes, second=0, microsecond=0)
    end = max(min(now, timeline[-1][0]), first)
    rows: list[tuple[dt.datetime, int]] = []
    index, current = 0, 0
    while start <= end:
        stop = start + step
        while index < len(timeline) and timeline[index][0] <= start:
            current = timeline[index][1]
            index += 1
        most = current
        while index < len(timeline) and timeline[index][0] < stop:
            current = timeline[index][1]
            most = max(most, current)
            index += 1
        rows.append((start, most))
        start = stop
    return rows


def _context(found: EventFigures, *, now: dt.datetime, standalone: bool = False) -> dict[str, Any]:
    language = g.language
    concurrency, funnel = charts(found, language=language, now=now, standalone=standalone)
    return {
        "event": found.event,
        "found": found,
        "f": found.figures,
        "fmt": Formats(language, ZoneInfo(found.event.timezone)),
        "chart": concurrency,
        "funnel_chart": funnel,
        "quarters": quarter_hours(found.figures.timeline, now=now),
        "now": now,
    }


@blueprint.get("/organiser/events/<int:event_id>/attendance")
async def dashboard(event_id: int) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    now = st.now()
    async with st.db.read() as db:
        found = await attendance_figures.event_figures(
            db, principal, event_id, now=now, min_minutes=st.settings.attendance_min_minutes
        )
        head = await live.head(db, event_id)
    context = _context(found, now=now)
    if request.args.get("fragment") == "1":
        html = await render_template("attendance/_live.html", **context)
        return Response(html, content_type="text/html; charset=utf-8", headers=PRIVATE)
    html = await render_template(
        "attendance/dashboard.html",
        **context,
        organiser=principal.is_organiser,
        live_url=f"/api/v1/events/{event_id}/live?last_event_id={head}",
        year=found.event.starts_at.astimezone(ZoneInfo(found.event.timezone)).year,
    )
    return Response(html, content_type="text/html; charset=utf-8", headers=PRIVATE)


@blueprint.get("/organiser/events/<int:event_id>/attendance.png")
async def chart_png(event_id: int) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    now = st.now()
    async with st.db.read() as db:
        found = await attendance_figures.event_figures(
            db, principal, event_id, now=now, min_minutes=st.settings.attendance_min_minutes
        )
    svg, _funnel = charts(found, language=g.language, now=now, standalone=True)
    png = await asyncio.to_thread(svg_to_png, str(svg))
    return Response(
        png,
        content_type="image/png",
        headers={
            **PRIVATE,
            "Content-Disposition": f'inline; filename="internet10-event-{event_id}-attendance.png"',
        },
    )


async def _report(event_id: int) -> dict[str, Any] | None:
    """The report's template context; None for an anonymous visitor (to sign in first)."""
    principal = await current_principal()
    if principal is None:
        return None
    st = state()
    now = st.now()
    async with st.db.read() as db:
        report = await reports.event_report(
            db, principal, event_id, now=now, min_minutes=st.settings.attendance_min_minutes
        )
    return {**_context(report.found, now=now), "report": report}


@blueprint.get("/organiser/events/<int:event_id>/report")
async def report_page(event_id: int) -> Page:
    context = await _report(event_id)
    if context is None:
        return redirect(url_for("staff.login_form"))
    html = await render_template("attendance/report.html", **context)
    return Response(html, content_type="text/html; charset=utf-8", headers=PRIVATE)


@blueprint.get("/organiser/events/<int:event_id>/report.pdf")
async def report_pdf(event_id: int) -> Page:
    context = await _report(event_id)
    if context is None:
        return redirect(url_for("staff.login_form"))
    html = await render_template("attendance/report_pdf.html", **context)
    stylesheet = (STATIC / "report.css").read_text(encoding="utf-8")
    pdf = await asyncio.to_thread(html_to_pdf, html, stylesheet)
    return Response(
        pdf,
        content_type="application/pdf",
        headers={
            **PRIVATE,
            "Content-Disposition": f'attachment; filename="internet10-event-{event_id}-report.pdf"',
        },
    )


# -- exports -------------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas in names typed by the public (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


PEOPLE_COLUMNS = (
    "person",
    "registration_id",
    "name",
    "chapter",
    "country",
    "language",
    "place",
    "hub",
    "visits",
    "first_joined_at",
    "minutes",
    "attended",
)
INTERVAL_COLUMNS = (
    "person",
    "registration_id",
    "name",
    "source",
    "hub",
    "joined_at",
    "left_at",
)


def people_rows(export: reports.AttendanceExport) -> list[dict[str, Any]]:
    return [
        {
            "person": p.person,
            "registration_id": p.registration_id,
            "name": p.name,
            "chapter": p.chapter,
            "country": p.country,
            "language": p.language,
            "place": p.place,
            "hub": p.hub,
            "visits": p.visits,
            "first_joined_at": _iso(p.first_joined_at),
            "minutes": p.minutes,
            "attended": p.attended,
        }
        for p in export.people
    ]


def interval_rows(export: reports.AttendanceExport) -> list[dict[str, Any]]:
    return [
        {
            "person": i.person,
            "registration_id": i.registration_id,
            "name": i.name,
            "source": i.source,
            "hub": i.hub,
            "joined_at": _iso(i.joined_at),
            "left_at": _iso(i.left_at),
        }
        for i in export.intervals
    ]


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """UTF-8 with a BOM so spreadsheets read accents; empty cells for none; yes/no as 1/0."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for name in columns:
            value = row[name]
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append("1" if value else "0")
            elif isinstance(value, str):
                cells.append(_cell(value))
            else:
                cells.append(str(value))
        writer.writerow(cells)
    return out.getvalue()


EXPORTS: dict[str, tuple[Sequence[str], Callable[[reports.AttendanceExport], list[Any]]]] = {
    "people": (PEOPLE_COLUMNS, people_rows),
    "intervals": (INTERVAL_COLUMNS, interval_rows),
}


EXPORT_PATH = "/organiser/events/<int:event_id>/attendance/<any(people, intervals):what>"


@blueprint.get(EXPORT_PATH + ".<any(csv, json):kind>")
async def export(event_id: int, what: str, kind: str) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    async with st.db.read() as db:
        found = await reports.attendance_export(
            db,
            principal,
            event_id,
            now=st.now(),
            min_minutes=st.settings.attendance_min_minutes,
        )
    columns, build = EXPORTS[what]
    rows = build(found)
    filename = f"internet10-event-{event_id}-attendance-{what}.{kind}"
    headers = {**PRIVATE, "Content-Disposition": f'attachment; filename="{filename}"'}
    if kind == "csv":
        return Response(
            to_csv(columns, rows), content_type="text/csv; charset=utf-8", headers=headers
        )
    body = {
        "event_id": event_id,
        "min_minutes": found.min_minutes,
        "generated_at": _iso(st.now()),
        what: rows,
    }
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        content_type="application/json; charset=utf-8",
        headers=headers,
    )


# -- the year ------------------------------------------------------------------------------------


@blueprint.get("/organiser/year")
async def this_year() -> WerkzeugResponse:
    st = state()
    year = st.now().astimezone(ZoneInfo(st.settings.default_timezone)).year
    return redirect(url_for("attendance.year_page", year=year))


@blueprint.get("/organiser/year/<int:year>")
async def year_page(year: int) -> Page:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NotFound(f"No year {year} here.")
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    async with st.db.read() as db:
        view = await reports.year_view(
            db, principal, year, now=st.now(), min_minutes=st.settings.attendance_min_minutes
        )
    html = await render_template(
        "attendance/year.html",
        view=view,
        fmt=Formats(g.language, ZoneInfo(st.settings.default_timezone)),
        local=lambda event: Formats(g.language, ZoneInfo(event.timezone)),
    )
    return Response(html, content_type="text/html; charset=utf-8", headers=PRIVATE)
