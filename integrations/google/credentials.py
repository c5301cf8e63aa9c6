"""Explicit Google credentials from files: a service-account key for Calendar, a stored user
token for YouTube (its API refuses service accounts). Never application-default credentials:
those would look around the machine and ask the cloud metadata server.

Error messages name the file, never its contents (they hold secrets)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.oauth2 import credentials as user_account
from google.oauth2 import service_account

from integrations.google import GoogleError

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, not a secret
TOKEN_FILE_MODE = 0o600


def read_json(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        message = f"cannot read the {what} {path}: {exc.strerror}"
        raise GoogleError(message, retryable=False) from exc
    except ValueError as exc:
        raise GoogleError(f"the {what} {path} is not JSON", retryable=False) from exc
    if not isinstance(data, dict):
        raise GoogleError(f"the {what} {path} is not a JSON object", retryable=False)
    return data


def service_account_credentials(
    path: str | os.PathLike[str], *, scopes: Sequence[str], token_uri: str | None = None
) -> service_account.Credentials:
    """The key file Google's console gives for a service account. ``token_uri`` replaces the
    file's (the stand-in's token endpoint in tests and the demo)."""
    info = read_json(path, "service-account key file")
    if info.get("type") != "service_account":
        raise GoogleError(
            f"{path} is not a service-account key file (its type is {info.get('type')!r})",
            retryable=False,
        )
    if token_uri:
        info["token_uri"] = token_uri
    try:
        # google-auth leaves this factory unannotated; it returns service_account.Credentials
        credentials: service_account.Credentials = (
            service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(scopes)
            )
        )
    except (ValueError, KeyError) as exc:
        raise GoogleError(
            f"the service-account key file {path} is incomplete or its key unreadable",
            retryable=False,
        ) from exc
    return credentials


def _expiry(value: object) -> dt.datetime | None:
    """google-auth's own format (naive UTC, ``...Z``, optional fraction), as it writes it."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.strptime(value.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None  # unknown expiry: the token is refreshed before first use


def user_credentials(
    path: str | os.PathLike[str], *, scopes: Sequence[str], token_uri: str | None = None
) -> user_account.Credentials:
    """A stored user token (google-auth's authorized-user JSON, as ``write_token_file`` writes
    it). The access token is refreshed with the refresh token whenever it has expired.

    Built by hand, not with ``Credentials.from_authorized_user_info``: that one always replaces
    the file's ``token_uri`` with Google's, which would send the stand-in's refresh tokens to
    Google. Here ``token_uri`` wins, then the file's, then Google's."""
    info = read_json(path, "YouTube token file")
    missing = [k for k in ("refresh_token", "client_id", "client_secret") if not info.get(k)]
    if missing:
        raise GoogleError(
            f"the YouTube token file {path} lacks {', '.join(missing)}: authorise again",
            retryable=False,
        )
    return make_user_credentials(
        token=info.get("token") or None,
        refresh_token=str(info["refresh_token"]),
        token_uri=token_uri or str(info.get("token_uri") or GOOGLE_TOKEN_URI),
        client_id=str(info["client_id"]),
        client_secret=str(info["client_secret"]),
        scopes=list(scopes),
        expiry=_expiry(info.get("expiry")),
    )


def make_user_credentials(
    *,
    token: str | None,
    refresh_token: str,
    token_uri: str,
    client_id: str,
    client_secret: str,
    scopes: Sequence[str],
    expiry: dt.datetime | None,
) -> user_account.Credentials:
    """A user's credentials; ``expiry`` naive UTC, as google-auth keeps it."""
    return user_account.Credentials(  # type: ignore[no-untyped-call]  # google-auth: unannotated
        token=token,
        refresh_token=refresh_token,
        token_uri=token_uri,
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(scopes),
        expiry=expiry,
    )


def write_token_file(path: str | os.PathLike[str], credentials: user_account.Credentials) -> None:
    """Write ``credentials`` (refresh token included) readable by the owner only.

    The file is created beside the target with ``os.open(..., 0o600)``, its mode set again with
    ``fchmod`` (the umask can only narrow it, but it must be exactly 0600), then renamed over
    the target: an older file with wider permissions is replaced, never rewritten in place.
    The result is checked; ``PermissionError`` if it is not 0600 (a filesystem that ignores
    modes)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    data = credentials.to_json().encode("utf-8")  # type: ignore[no-untyped-call]  # unannotated
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, TOKEN_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), TOKEN_FILE_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    mode = stat.S_IMODE(target.stat().st_mode)
    if mode != TOKEN_FILE_MODE:
        raise PermissionError(f"{target} has mode {mode:#o}, expected {TOKEN_FILE_MODE:#o}")
