"""Settings: read once from INTERNET10_* variables; errors name the variable and the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from internet10.settings import SettingsError, known_variables, load_settings

pytestmark = pytest.mark.unit

KEY = "k" * 40


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings({"INTERNET10_SECRET_KEY": KEY})
    assert settings.database_url == "sqlite+aiosqlite:///var/internet10.sqlite3"
    assert settings.redis_url is None
    assert settings.default_language == "fr"
    assert str(settings.zoom_api_url) == "https://api.zoom.us/v2"
    assert str(settings.zoom_oauth_url) == "https://zoom.us/oauth/token"
    assert settings.zoom_configured is False


def test_secret_key_is_required_outside_the_demo() -> None:
    with pytest.raises(SettingsError, match=r"^INTERNET10_SECRET_KEY is missing"):
        load_settings({})
    assert len(load_settings({"INTERNET10_DEMO": "true"}).secret_key) >= 32


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("INTERNET10_DEFAULT_LANGUAGE", "de", "INTERNET10_DEFAULT_LANGUAGE=de: "),
        ("INTERNET10_DATABASE_URL", "mysql://x", "INTERNET10_DATABASE_URL=mysql://x: must start"),
        ("INTERNET10_REDIS_URL", "http://r", "INTERNET10_REDIS_URL=http://r: must start"),
        ("INTERNET10_ZOOM_HOST_CAPACITY", "lots", "INTERNET10_ZOOM_HOST_CAPACITY=lots: "),
        ("INTERNET10_BASE_URL", "not a url", "INTERNET10_BASE_URL=not a url: "),
        ("INTERNET10_DEFAULT_TIMEZONE", "Africa/Atlantis", "INTERNET10_DEFAULT_TIMEZONE=Afr"),
    ],
)
def test_bad_value_names_variable_and_value(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INTERNET10_SECRET_KEY": KEY, name: value})
    assert str(caught.value).startswith(expected)


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INTERNET10_SECRET_KEY": "short-secret"})
    assert "short-secret" not in str(caught.value)
    assert str(caught.value).startswith("INTERNET10_SECRET_KEY=<hidden>: ")


def test_partial_zoom_configuration_names_the_missing_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "INTERNET10_SECRET_KEY": KEY,
                "INTERNET10_ZOOM_ACCOUNT_ID": "acc",
                "INTERNET10_ZOOM_CLIENT_ID": "cid",
            }
        )
    assert str(caught.value) == (
        "INTERNET10_ZOOM_CLIENT_SECRET is missing; it is required when Zoom is configured"
    )


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("INTERNET10_GOOGLE_CREDENTIALS", "INTERNET10_GOOGLE_CALENDAR_ID"),
        ("INTERNET10_GOOGLE_CALENDAR_ID", "INTERNET10_GOOGLE_CREDENTIALS"),
    ],
)
def test_partial_google_calendar_configuration_names_the_missing_variable(
    given: str, missing: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INTERNET10_SECRET_KEY": KEY, given: "x"})
    assert str(caught.value) == (
        f"{missing} is missing; it is required when Google Calendar is configured"
    )


def test_google_is_configured_only_when_its_files_are_given() -> None:
    bare = load_settings({"INTERNET10_SECRET_KEY": KEY})
    assert (bare.google_calendar_configured, bare.youtube_configured) == (False, False)
    assert str(bare.youtube_watch_url) == "https://www.youtube.com/watch?v="
    configured = load_settings(
        {
            "INTERNET10_SECRET_KEY": KEY,
            "INTERNET10_GOOGLE_CREDENTIALS": "/etc/internet10/calendar-key.json",
            "INTERNET10_GOOGLE_CALENDAR_ID": "c_benin@group.calendar.google.com",
            "INTERNET10_YOUTUBE_TOKEN_FILE": "/var/lib/internet10/youtube-token.json",
        }
    )
    assert (configured.google_calendar_configured, configured.youtube_configured) == (True, True)


def test_settings_are_not_read_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTERNET10_DEFAULT_LANGUAGE", "en")
    assert load_settings({"INTERNET10_SECRET_KEY": KEY}).default_language == "fr"


def test_every_variable_in_docker_compose_is_a_known_setting(repo_root: Path) -> None:
    text = (repo_root / "docker-compose.yml").read_text()
    used = set(re.findall(r"\bINTERNET10_[A-Z0-9_]+", text))
    assert used, "docker-compose.yml configures the app through INTERNET10_* variables"
    assert used - known_variables() == set()


def test_every_setting_is_documented_in_the_readme(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    missing = sorted(v for v in known_variables() if f"`{v}`" not in readme)
    assert missing == []
