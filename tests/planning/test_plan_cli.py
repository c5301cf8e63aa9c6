"""``internet10 plan``: a pure computation run as organisers and scripts run it (a process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.dbfree]

CLI = [sys.executable, "-m", "internet10.cli", "plan"]

# Porto-Novo accepts the default hours; Kathmandu (UTC+05:45) only 09:00-17:00 and New York only
# 10:00-17:00. Nepal's slot must end by 11:15 UTC and New York's start at 15:00 UTC or later, but
# the first and last slots of the agenda are only 194 minutes apart: someone loses a whole slot.
CHAPTERS = [
    {"code": "BJ", "name": "ISOC Benin", "timezone": "Africa/Porto-Novo", "hours": "08:00-22:00"},
    {"code": "NP", "name": "ISOC Nepal", "timezone": "Asia/Kathmandu", "hours": "09:00-17:00"},
    {"code": "US", "name": "ISOC New York", "timezone": "America/New_York", "hours": "10:00-17:00"},
]
DATE = "2026-12-05"

# The best proposal: 16:00 Porto-Novo. Nepal presents 21:23-21:46 local (23 minutes outside);
# New York's whole session (10:00-14:30 local) is inside its hours, which breaks the tie
# with every other start that also costs 23 presenter minutes.
BEST = {
    "starts_at": "2026-12-05T15:00:00Z",
    "ends_at": "2026-12-05T19:30:00Z",
    "order": ["BJ", "NP", "US"],
    "minutes_outside_total": 23,
    "session_minutes_outside_total": 270,
    "slots": [
        {
            "position": 1,
            "chapter": "BJ",
            "starts_at": "2026-12-05T15:15:00Z",
            "ends_at": "2026-12-05T15:38:00Z",
            "local_start": "2026-12-05T16:15:00+01:00",
            "local_end": "2026-12-05T16:38:00+01:00",
            "minutes_outside": 0,
        },
        {
            "position": 2,
            "chapter": "NP",
            "starts_at": "2026-12-05T15:38:00Z",
            "ends_at": "2026-12-05T16:01:00Z",
            "local_start": "2026-12-05T21:23:00+05:45",
            "local_end": "2026-12-05T21:46:00+05:45",
            "minutes_outside": 23,
        },
        {
            "position": 3,
            "chapter": "US",
            "starts_at": "2026-12-05T16:01:00Z",
            "ends_at": "2026-12-05T16:24:00Z",
            "local_start": "2026-12-05T11:01:00-05:00",
            "local_end": "2026-12-05T11:24:00-05:00",
            "minutes_outside": 0,
        },
    ],
    "unserved": [{"chapter": "NP", "minutes_outside": 23}],
}


def write_chapters(folder: Path, data: Any, name: str = "chapters.json") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def run_plan(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def plan_json(folder: Path, chapters: Any, *args: str) -> dict[str, Any]:
    """``internet10 plan --json`` for ``chapters`` on ``DATE``; asserts it succeeded quietly."""
    write_chapters(folder, chapters)
    result = run_plan("--date", DATE, "--chapters", "chapters.json", "--json", *args, cwd=folder)
    assert (result.returncode, result.stderr) == (0, "")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_plan_json_known_case_is_exact(tmp_path: Path) -> None:
    assert plan_json(tmp_path, CHAPTERS, "--top", "1") == {"proposals": [BEST]}


def test_plan_json_ranks_best_first(tmp_path: Path) -> None:
    proposals = plan_json(tmp_path, CHAPTERS)["proposals"]
    assert proposals[0] == BEST
    assert [(p["starts_at"], p["order"], p["minutes_outside_total"]) for p in proposals] == [
        ("2026-12-05T15:00:00Z", ["BJ", "NP", "US"], 23),
        ("2026-12-05T15:15:00Z", ["BJ", "NP", "US"], 23),
        ("2026-12-05T15:30:00Z", ["BJ", "NP", "US"], 23),
    ]


def test_plan_table_states_each_proposal_and_slot(tmp_path: Path) -> None:
    write_chapters(tmp_path, CHAPTERS)
    result = run_plan("--date", DATE, "--chapters", "chapters.json", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        "Proposal 1: 2026-12-05 15:00-19:30 UTC"
        " = 2026-12-05 16:00-20:30 Africa/Porto-Novo (UTC+01:00)",
        "  minutes outside acceptable hours: 23",
        "  unserved: NP: 23 min outside",
        "  #  chapter  UTC                     local                             min outside",
        "  1  BJ       2026-12-05 15:15-15:38  2026-12-05 16:15-16:38 UTC+01:00            0",
        "  2  NP       2026-12-05 15:38-16:01  2026-12-05 21:23-21:46 UTC+05:45           23",
        "  3  US       2026-12-05 16:01-16:24  2026-12-05 11:01-11:24 UTC-05:00            0",
    ]
    assert [line for line in lines if line.startswith("Proposal ")] == [
        "Proposal 1: 2026-12-05 15:00-19:30 UTC"
        " = 2026-12-05 16:00-20:30 Africa/Porto-Novo (UTC+01:00)",
        "Proposal 2: 2026-12-05 15:15-19:45 UTC"
        " = 2026-12-05 16:15-20:45 Africa/Porto-Novo (UTC+01:00)",
        "Proposal 3: 2026-12-05 15:30-20:00 UTC"
        " = 2026-12-05 16:30-21:00 Africa/Porto-Novo (UTC+01:00)",
    ]


def test_plan_table_shows_dates_across_local_midnight(tmp_path: Path) -> None:
    # Tokyo accepts only 23:30-00:30 (a window across midnight) and ten 60-minute slots
    # fill the session: the chapter presents last, 23:30 to 00:30 the next day.
    chapters = [
        {"code": "JP", "name": "ISOC Japan", "timezone": "Asia/Tokyo", "hours": "23:30-00:30"}
    ]
    write_chapters(tmp_path, chapters)
    result = run_plan(
        "--date",
        DATE,
        "--chapters",
        "chapters.json",
        "--timezone",
        "Asia/Tokyo",
        "--top",
        "1",
        "--opening",
        "0",
        "--presentation",
        "50",
        "--debate",
        "10",
        "--break-after",
        "0",
        "--closing",
        "0",
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "Proposal 1: 2026-12-05 05:30-15:30 UTC"
        " = 2026-12-05 14:30-2026-12-06 00:30 Asia/Tokyo (UTC+09:00)",
        "  minutes outside acceptable hours: 0",
        "  unserved: none",
        "  #   chapter  UTC                     local"
        "                                        min outside",
        "  10  JP       2026-12-05 14:30-15:30  2026-12-05 23:30-2026-12-06 00:30 UTC+09:00"
        "            0",
        "",
    ]


def test_plan_without_a_break_is_ten_minutes_shorter(tmp_path: Path) -> None:
    with_break = plan_json(tmp_path, CHAPTERS, "--top", "1")["proposals"][0]
    for option in (["--break-after", "0"], ["--break", "0"]):
        without = plan_json(tmp_path, CHAPTERS, "--top", "1", *option)["proposals"][0]
        assert (without["starts_at"], without["ends_at"]) == (
            "2026-12-05T15:00:00Z",
            "2026-12-05T19:20:00Z",
        )
        assert with_break["ends_at"] == "2026-12-05T19:30:00Z"


def test_plan_agenda_options_shape_the_slots(tmp_path: Path) -> None:
    best = plan_json(
        tmp_path,
        CHAPTERS[:1],
        "--top",
        "1",
        "--opening",
        "0",
        "--presentation",
        "20",
        "--debate",
        "10",
        "--closing",
        "0",
        "--break-after",
        "0",
    )["proposals"][0]
    # Ten 30-minute slots; the earliest start that keeps Porto-Novo inside is 08:00 local.
    assert (best["starts_at"], best["ends_at"]) == ("2026-12-05T07:00:00Z", "2026-12-05T12:00:00Z")
    assert [(s["starts_at"], s["ends_at"]) for s in best["slots"]] == [
        ("2026-12-05T07:00:00Z", "2026-12-05T07:30:00Z")
    ]


def test_plan_reads_no_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    env |= {
        "INTERNET10_DEFAULT_LANGUAGE": "klingon",
        "INTERNET10_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    }
    write_chapters(tmp_path, CHAPTERS)
    result = run_plan(
        "--date",
        DATE,
        "--chapters",
        "chapters.json",
        "--json",
        "--top",
        "1",
        cwd=tmp_path,
        env=env,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {"proposals": [BEST]}


@pytest.mark.parametrize(
    ("chapters", "message"),
    [
        (
            [*CHAPTERS, {"code": "NG", "name": "ISOC Nigeria", "timezone": "Africa/Lagoss"}],
            'chapters.json: chapters[3] ("NG"): unknown time zone "Africa/Lagoss"',
        ),
        (
            [CHAPTERS[0], CHAPTERS[1] | {"hours": "9h-17h"}],
            "chapters.json: chapters[1] (\"NP\"): invalid hours '9h-17h',"
            ' expected "HH:MM-HH:MM" such as "08:00-22:00"',
        ),
        (
            [CHAPTERS[0] | {"hours": "08:00-25:00"}],
            "chapters.json: chapters[0] (\"BJ\"): invalid hours '08:00-25:00',"
            ' expected "HH:MM-HH:MM" such as "08:00-22:00"',
        ),
        ([], "chapters.json: the list of chapters is empty; give at least one chapter"),
        (
            [{"name": "no code", "timezone": "UTC"}],
            'chapters.json: chapters[0]: "code" must be a non-empty string',
        ),
        (
            {"code": "BJ"},
            "chapters.json: chapters: expected a list of chapter objects, got dict",
        ),
        (
            '[{"code": "BJ",',
            "chapters.json: invalid JSON at line 1 column 16: Expecting property name enclosed"
            " in double quotes",
        ),
        (
            [{"code": f"C{i}", "timezone": "UTC"} for i in range(11)],
            "chapters.json: 11 chapters but the agenda has only 10 slots",
        ),
    ],
)
def test_plan_bad_chapters_file_is_one_line_and_exit_2(
    tmp_path: Path, chapters: Any, message: str
) -> None:
    write_chapters(tmp_path, chapters)
    result = run_plan("--date", DATE, "--chapters", "chapters.json", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"internet10: {message}\n")


def test_plan_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_plan("--date", DATE, "--chapters", "chapters.json", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "internet10: chapters.json: No such file or directory\n",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--date", "2026-12-32"], "--date: expected a date as YYYY-MM-DD, got '2026-12-32'"),
        (["--date", "05/12/2026"], "--date: expected a date as YYYY-MM-DD, got '05/12/2026'"),
        (["--date", "1999-12-31"], "--date: must be between 2000 and 2100, got 1999-12-31"),
        (
            ["--timezone", "Africa/Cotonou-Nord"],
            '--timezone: unknown time zone "Africa/Cotonou-Nord"',
        ),
        (["--top", "0"], "--top: top must be >= 1, got 0"),
        (["--opening", "-5"], "--opening: must be between 0 and 1440, got -5"),
        (["--closing", "100000"], "--closing: must be between 0 and 1440, got 100000"),
        (
            ["--presentation", "0"],
            "--presentation: presentation must be a whole number of minutes >= 1, got 0",
        ),
        (
            ["--break-after", "10"],
            "--break-after: breaks[0]: after_slot must be between 1 and 9"
            " (a break sits between two slots), got 10",
        ),
    ],
)
def test_plan_bad_option_is_one_line_and_exit_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    write_chapters(tmp_path, CHAPTERS)
    arguments = {"--date": DATE, "--chapters": "chapters.json"}
    arguments |= dict(zip(options[::2], options[1::2], strict=True))
    result = run_plan(*[part for pair in arguments.items() for part in pair], cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"internet10: {message}\n")
