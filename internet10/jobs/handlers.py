"""The registry of job kinds the worker knows. Each issue that adds background work adds here."""

from __future__ import annotations

from internet10.jobs.worker import Handler
from internet10.settings import Settings


def build_handlers(settings: Settings) -> dict[str, Handler]:
    del settings  # the integrations that handlers need are built from it as they arrive
    return {}
