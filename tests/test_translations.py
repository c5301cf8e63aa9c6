"""Every string in the code and templates is translated in French and in English."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_catalogs_are_complete(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/i18n.py", "check"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
