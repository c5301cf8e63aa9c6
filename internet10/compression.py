"""gzip for whole text responses, for people on slow mobile data paid by the megabyte.

Quart has no compression of its own. The libraries on PyPI either target a Quart of 2020
(quart-compress) or sit at the ASGI level (starlette-compress), where every Quart response
arrives as a stream of chunks: they then compress responses of any size, drop Content-Length and
compress the live channel's event stream too. Here only bodies Quart holds whole are compressed,
so streams (Server-Sent Events, files) pass untouched; static files come gzipped already (see
:mod:`internet10.assets`).
"""

from __future__ import annotations

import gzip

from quart import Quart, Response, request
from quart.wrappers.response import DataBody

MIN_BYTES = 500  # below this gzip's own header and the lost Content-Length cost more than it saves
LEVEL = 6
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/plain",
        "text/csv",
        "text/calendar",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/xml",
        "image/svg+xml",
    }
)


def accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


async def compress(response: Response) -> Response:
    if (
        request.endpoint == "static"  # served compressed, or not worth it (internet10.assets)
        or response.status_code < 200
        or response.status_code in (204, 206, 304)
        or "Content-Encoding" in response.headers
        or response.mimetype not in COMPRESSIBLE
        or not isinstance(response.response, DataBody)
    ):
        return response
    data = await response.get_data(as_text=False)
    if len(data) < MIN_BYTES:
        return response
    response.vary.add("Accept-Encoding")
    if not accepts_gzip():
        return response
    response.set_data(gzipped(data))
    response.headers["Content-Encoding"] = "gzip"
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)  # the same entity, other bytes
    return response


def install(app: Quart) -> None:
    """Register before any other ``after_request`` function: Quart runs them in reverse order,
    so this one sees the final body."""
    app.after_request(compress)
