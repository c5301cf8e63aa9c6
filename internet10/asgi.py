"""ASGI entry point for Hypercorn's multi-worker mode (``internet10 serve --workers N``).

Each worker process imports this module; settings are read here, once per process, because a
process started by Hypercorn has no other place to receive them.
"""

from __future__ import annotations

import os

from internet10.app import create_app
from internet10.settings import load_settings

app = create_app(load_settings(os.environ))
