"""Logging for ``internet10 serve``, ``worker`` and ``demo``: one JSON object per line on
stderr (``INTERNET10_LOG_FORMAT=json``, the default) or plain text (``text``).

Every line has ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the
``request_id`` of the request or job being handled when there is one, and whatever the call
passed in ``extra=`` (the access log's ``method``, ``route``, ``status``, ``duration_ms``; the
worker's ``job_id``, ``kind``, ``outcome``). Nothing personal is logged: the access log names
the route's template (``/me/<token>``), never the path that holds a token."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from internet10.tracing import request_id

# What every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        current = request_id.get()
        if current is not None:
            extra.setdefault("request_id", current)
        if extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return text


def configure(log_format: str = "json", level: str = "INFO") -> None:
    """Send the root logger's records to stderr in ``log_format``; idempotent (a second call
    replaces the handler it installed)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_internet10", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler._internet10 = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
