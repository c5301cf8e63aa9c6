"""ASGI entry point for Hypercorn's multi-worker mode (``internet10 serve --workers N``).

Each worker process imports this module; settings are read here, once per process, because a
process started by Hypercorn has no other place to receive them (its logging too: a spawned
worker starts without the parent's).
"""

from __future__ import annotations

import os

from internet10 import logs
from internet10.app import create_app
from internet10.settings import load_settings

_settings = load_settings(os.environ)
logs.configure(_settings.log_format, _settings.log_level)
app = create_app(_settings)
