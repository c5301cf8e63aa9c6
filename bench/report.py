"""The results table, the JSON file, and a description of the machine."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.runner import Options, Outcome, WorkloadResult
from bench.servers import HYPERCORN_BACKLOG, HYPERCORN_WORKERS


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _wrk_version() -> str | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False, timeout=10)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "hypercorn": _version("hypercorn"),
        "quart": _version("quart"),
        "aiohttp": _version("aiohttp"),
        "wrk": _wrk_version(),
        "load_average": _load_average(),
    }


def _load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine makes the figures noisier."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _ratio(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "n/a"


def table(outcome: Outcome) -> str:
    header = (
        "workload",
        "db",
        "target",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "spread",
        "app/base req/s",
        "app/base p99",
    )
    rows: list[tuple[str, ...]] = [header]
    for r in outcome.results:
        for summary in (r.baseline, r.app):
            is_app = summary is r.app
            rows.append(
                (
                    r.workload,
                    r.backend,
                    str(summary.kind),
                    f"{summary.rps:,.0f}",
                    f"{summary.p50_ms:.1f}",
                    f"{summary.p99_ms:.1f}",
                    str(summary.errors),
                    f"{summary.rps_spread:.0%}",
                    _ratio(r.rps_ratio) if is_app else "",
                    _ratio(r.p99_ratio) if is_app else "",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = {0, 1, 2}
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def extras(results: list[WorkloadResult]) -> str:
    lines = []
    for r in results:
        for summary in (r.baseline, r.app):
            for name, value in summary.extra_medians().items():
                lines.append(f"{r.workload} [{r.backend}] {summary.kind} {name}: {value:.3f}")
    return "\n".join(lines)


def to_json(
    outcome: Outcome, options: Options, command: str, started: dict[str, Any]
) -> dict[str, Any]:
    """``started``: :func:`machine` as it was before the run (its load average)."""
    s = options.settings
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": {**machine(), "load_average_at_start": started.get("load_average")},
        "method": {
            "client": outcome.client,
            "pinning": outcome.pinning.description,
            "duration_s": s.duration_s,
            "warmup_s": s.warmup_s,
            "connections": s.connections,
            "runs": s.runs,
            "order": "interleaved baseline, app; medians over runs",
            "hypercorn": {"workers": HYPERCORN_WORKERS, "backlog": HYPERCORN_BACKLOG},
        },
        "backends": outcome.backends,
        "results": [r.to_dict() for r in outcome.results],
        "problems": outcome.problems,
        "ok": not outcome.problems,
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be computed (no request completed) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(data), indent=2, allow_nan=False, default=str) + "\n")
