"""The README's example report and chart: the script that makes them runs, and the committed
files are a readable three-page PDF and a PNG of the chart's size."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

pytestmark = [pytest.mark.e2e, pytest.mark.dbfree]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR")
    return width, height


def test_committed_examples_are_a_three_page_report_and_the_chart(repo_root: Path) -> None:
    examples = repo_root / "docs" / "examples"
    reader = PdfReader(examples / "attendance-report.pdf")
    assert len(reader.pages) == 3
    first = " ".join(reader.pages[0].extract_text().split())
    assert first.startswith("Attendance report Internet10")
    assert png_size((examples / "attendance.png").read_bytes()) == (960, 480)


def test_example_script_makes_the_report_and_chart_in_french(
    repo_root: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(repo_root / "scripts" / "attendance_examples.py"),
            "--out",
            str(tmp_path),
            "--lang",
            "fr",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        str(tmp_path / "attendance-report.pdf"),
        str(tmp_path / "attendance.png"),
    ]
    reader = PdfReader(io.BytesIO((tmp_path / "attendance-report.pdf").read_bytes()))
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    assert len(pages) == 3
    assert pages[0].startswith("Rapport de participation Internet10")
    assert "145 sur un objectif de 150 (97 %)" in pages[0]
    assert "Le programme tel qu’il s’est déroulé" in pages[2]
    assert png_size((tmp_path / "attendance.png").read_bytes()) == (960, 480)
