"""``internet10 db check``: the worker's health check (it has no HTTP port)."""

from __future__ import annotations

import pytest

from internet10.cli import main
from tests.conftest import SECRET
from tests.live.processes import free_port

pytestmark = pytest.mark.integration


def test_db_check_answers_with_the_schema_revision(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTERNET10_DATABASE_URL", database_url)
    monkeypatch.setenv("INTERNET10_SECRET_KEY", SECRET)
    assert main(["db", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("database answers; schema revision 0")


def test_db_check_fails_when_the_database_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"postgresql+asyncpg://internet10@127.0.0.1:{free_port()}/internet10"
    monkeypatch.setenv("INTERNET10_DATABASE_URL", nowhere)
    monkeypatch.setenv("INTERNET10_SECRET_KEY", SECRET)
    monkeypatch.setenv("INTERNET10_DATABASE_TIMEOUT_SECONDS", "5")
    assert main(["db", "check"]) == 1
    assert "the database does not answer" in capsys.readouterr().err
