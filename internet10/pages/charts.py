"""Charts as SVG text, drawn on the server: no chart library reaches the browser, the same SVG
is inlined in pages, converted to PNG and embedded in the PDF report.

Only SVG presentation attributes are used (no ``style``), so the pages' Content-Security-Policy
holds. Every chart has a ``viewBox`` (it scales to the width it is given), a ``<title>`` and a
``<desc>``; the pages show the same numbers in a table beside it. Callers pass every word
already translated.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 38, 14, 16, 30
FONT = "DejaVu Sans, Verdana, sans-serif"
INK, MUTED, GRID, LINE, TARGET, BAND = "#1a1a1a", "#555", "#ddd", "#0b5394", "#a00", "#eef3f8"
MINUTE_STEPS = (15, 30, 60, 120, 180, 240, 360)


@dataclass(frozen=True)
class Band:
    """A stretch of the x axis to shade and label (a slot of the running order)."""

    label: str
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True)
class ChartWords:
    title: str
    desc: str
    target: str  # e.g. "Target 150"
    peak: str  # e.g. "Peak 132 · 10:05"
    empty: str  # shown when no one has attended yet
    now: str


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _attr(text: str) -> str:
    return str(escape(text))


def nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``raw``."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def y_axis(top_value: int) -> tuple[int, int]:
    """(step, maximum) of an axis from 0 showing ``top_value`` with a little room, 4-5 ticks."""
    step = nice_step(max(top_value, 4) / 4)
    return step, step * math.ceil(max(top_value, 4) * 1.08 / step)


def x_ticks(first: dt.datetime, last: dt.datetime, zone: dt.tzinfo) -> list[dt.datetime]:
    """Round local times between ``first`` and ``last``, at most 7 of them."""
    span = (last - first).total_seconds() / 60
    step = next((s for s in MINUTE_STEPS if span / s <= 6), MINUTE_STEPS[-1])
    local = first.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = (local - midnight).total_seconds() / 60
    tick = midnight + dt.timedelta(minutes=math.ceil(minutes / step) * step)
    ticks = []
    while tick <= last:
        ticks.append(tick.astimezone(dt.UTC))
        tick += dt.timedelta(minutes=step)
    return ticks


def concurrency_svg(
    timeline: Sequence[tuple[dt.datetime, int]],
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    now: dt.datetime,
    target: int,
    peak: int,
    peak_at: dt.datetime | None,
    zone: dt.tzinfo,
    clock: Callable[[dt.datetime], str],
    words: ChartWords,
    bands: Sequence[Band] = (),
    standalone: bool = False,
    ident: str = "attendance-chart",
) -> Markup:
    """People present at once over time (a step line), the target as a dashed line, the peak
    marked, slots shaded. While the event runs the line stops at ``now``; ``standalone`` adds
    the XML namespace and a pixel size for converting to PNG."""
    first = min([starts_at, *(t for t, _ in timeline[:1])])
    last = max([ends_at, *(t for t, _ in timeline[-1:])])
    live = first <= now < ends_at
    steps = [(t, n) for t, n in timeline if not (live and t >= now)]
    step, top_value = y_axis(max(peak, target))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max((last - first).total_seconds(), 60.0)

    def x(moment: dt.datetime) -> float:
        return LEFT + plot_w * (moment - first).total_seconds() / span

    def y(people: float) -> float:
        return TOP + plot_h * (1 - people / top_value)

    out: list[str] = []
    size = f' width="{WIDTH * 2}" height="{HEIGHT * 2}"' if standalone else ' width="100%"'
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    out.append(
        f'<svg{namespace} viewBox="0 0 {WIDTH} {HEIGHT}"{size} role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="{FONT}" font-size="11" '
        f'fill="{INK}">'
    )
    out.append(f'<title id="{ident}-title">{_attr(words.title)}</title>')
    out.append(f'<desc id="{ident}-desc">{_attr(words.desc)}</desc>')
    out.append(f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>')
    for index, band in enumerate(bands):
        left, right = max(x(band.starts_at), LEFT), min(x(band.ends_at), WIDTH - RIGHT)
        if right <= left:
            continue
        if index % 2 == 0:
            out.append(
                f'<rect x="{_num(left)}" y="{TOP}" width="{_num(right - left)}" '
                f'height="{plot_h}" fill="{BAND}"/>'
            )
        if right - left >= 14:
            out.append(
                f'<text x="{_num((left + right) / 2)}" y="{TOP + 10}" font-size="8" '
                f'text-anchor="middle" fill="{MUTED}">{_attr(band.label)}</text>'
            )
    for value in range(0, top_value + 1, step):
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y(value))}" '
            f'y2="{_num(y(value))}" stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 4}" y="{_num(y(value) + 4)}" text-anchor="end">{value}</text>'
        )
    for tick in x_ticks(first, last, zone):
        out.append(
            f'<line x1="{_num(x(tick))}" x2="{_num(x(tick))}" y1="{HEIGHT - BOTTOM}" '
            f'y2="{HEIGHT - BOTTOM + 4}" stroke="{MUTED}"/>'
        )
        at = x(tick)  # labels at the edges stay inside the picture
        anchor = "end" if at > WIDTH - RIGHT - 16 else "start" if at < LEFT + 16 else "middle"
        out.append(
            f'<text x="{_num(at)}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">'
            f"{_attr(clock(tick))}</text>"
        )
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="{MUTED}"/>'
    )
    if steps:
        end = min(now, last) if live else last
        path = [f"M{_num(x(steps[0][0]))} {_num(y(0))}"]
        for moment, people in steps:
            path.append(f"H{_num(x(moment))}V{_num(y(people))}")
        path.append(f"H{_num(x(end))}")
        line = "".join(path)
        out.append(
            f'<path d="{line}V{_num(y(0))}Z" fill="{LINE}" fill-opacity="0.12" stroke="none"/>'
        )
        out.append(f'<path d="{line}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    else:
        out.append(
            f'<text x="{_num(LEFT + plot_w / 2)}" y="{_num(TOP + plot_h / 2)}" '
            f'text-anchor="middle" fill="{MUTED}">{_attr(words.empty)}</text>'
        )
    if target > 0:
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y(target))}" '
            f'y2="{_num(y(target))}" stroke="{TARGET}" stroke-width="1.5" '
            f'stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{WIDTH - RIGHT - 2}" y="{_num(y(target) - 4)}" text-anchor="end" '
            f'fill="{TARGET}">{_attr(words.target)}</text>'
        )
    if peak_at is not None and peak > 0:
        px, py = x(peak_at), y(peak)
        anchor = "start" if px < WIDTH / 2 else "end"
        shift = 6 if anchor == "start" else -6
        # Above the point; just under the target: above the target line, not across it.
        near_target = target > 0 and 0 <= py - y(target) < 16
        label_y = max((y(target) if near_target else py) - 6, TOP + 10)
        out.append(f'<circle cx="{_num(px)}" cy="{_num(py)}" r="3.5" fill="{LINE}"/>')
        out.append(
            f'<text x="{_num(px + shift)}" y="{_num(label_y)}" '
            f'text-anchor="{anchor}" font-weight="bold">{_attr(words.peak)}</text>'
        )
    if live:
        out.append(
            f'<line x1="{_num(x(now))}" x2="{_num(x(now))}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{MUTED}" stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{_num(x(now) + 3)}" y="{HEIGHT - BOTTOM - 4}" fill="{MUTED}" '
            f'font-size="9">{_attr(words.now)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above went through escape()


def bars_svg(
    bars: Sequence[tuple[str, int]],
    *,
    title: str,
    desc: str,
    standalone: bool = False,
    ident: str = "funnel-chart",
) -> Markup:
    """Horizontal bars, one per (label, value), on one scale (the registration funnel)."""
    label_w, bar_h, gap, pad = 150, 22, 10, 8
    height = pad * 2 + len(bars) * bar_h + max(len(bars) - 1, 0) * gap
    room = WIDTH - label_w - 60
    largest = max([1, *(value for _, value in bars)])
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    size = f' width="{WIDTH * 2}" height="{height * 2}"' if standalone else ' width="100%"'
    out = [
        f'<svg{namespace} viewBox="0 0 {WIDTH} {height}"{size} role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="{FONT}" font-size="12" '
        f'fill="{INK}">',
        f'<title id="{ident}-title">{_attr(title)}</title>',
        f'<desc id="{ident}-desc">{_attr(desc)}</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
    ]
    for index, (label, value) in enumerate(bars):
        top = pad + index * (bar_h + gap)
        width = room * value / largest
        out.append(
            f'<text x="{label_w - 8}" y="{top + 15}" text-anchor="end">{_attr(label)}</text>'
        )
        out.append(
            f'<rect x="{label_w}" y="{top}" width="{_num(width)}" height="{bar_h}" '
            f'fill="{LINE}" fill-opacity="{_num(1 - index * 0.25)}"/>'
        )
        out.append(
            f'<text x="{_num(label_w + width + 6)}" y="{top + 15}" font-weight="bold">'
            f"{value}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above went through escape()
