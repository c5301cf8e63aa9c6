"""Static files under names that carry a hash of their content, cached by browsers for a year.

``url_for('static', filename='app.css')`` gives ``/static/app.<hash>.css``: a changed file gets a
new address, so a visitor's cached copy never goes stale and a repeat visit fetches no asset at
all. The files are read once when the app is created, kept in memory with their gzip form (they
are a few kilobytes), and answered with ``Cache-Control: immutable``. The plain name still
answers, revalidated on every use (``no-cache`` with an ETag), for anything that kept an old
address.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quart import Quart, Response, request
from werkzeug.exceptions import NotFound

from internet10.compression import COMPRESSIBLE, MIN_BYTES, accepts_gzip, gzipped

FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    name: str  # "app.css"
    hashed: str  # "app.0123456789.css"
    body: bytes
    gzipped: bytes | None  # None when gzip would not help
    mimetype: str
    digest: str


def _hashed_name(name: str, digest: str) -> str:
    folder, _, base = name.rpartition("/")
    stem, dot, suffix = base.partition(".")
    hashed = f"{stem}.{digest}{dot}{suffix}" if dot else f"{stem}.{digest}"
    return f"{folder}/{hashed}" if folder else hashed


class Assets:
    def __init__(self, folder: Path) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_hashed: dict[str, Asset] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            packed = gzipped(body) if mimetype in COMPRESSIBLE and len(body) >= MIN_BYTES else None
            asset = Asset(
                name=name,
                hashed=_hashed_name(name, digest),
                body=body,
                gzipped=packed if packed is not None and len(packed) < len(body) else None,
                mimetype=mimetype,
                digest=digest,
            )
            self.by_name[name] = asset
            self.by_hashed[asset.hashed] = asset

    def address(self, name: str) -> str:
        """The hashed name of a static file (unknown names are left as they are)."""
        asset = self.by_name.get(name)
        return asset.hashed if asset is not None else name

    async def serve(self, filename: str) -> Response:
        asset = self.by_hashed.get(filename)
        immutable = asset is not None
        if asset is None:
            asset = self.by_name.get(filename)
        if asset is None:
            raise NotFound()
        packed = asset.gzipped is not None and accepts_gzip()
        etag = f"{asset.digest}-gzip" if packed else asset.digest
        headers = {"Cache-Control": FOREVER if immutable else REVALIDATE}
        if etag in request.if_none_match:
            response = Response(b"", status=304, headers=headers)
        else:
            response = Response(asset.gzipped if packed else asset.body, headers=headers)
            response.mimetype = asset.mimetype
            if packed:
                response.headers["Content-Encoding"] = "gzip"
        response.set_etag(etag)
        if asset.gzipped is not None:
            response.vary.add("Accept-Encoding")
        return response


def install(app: Quart, folder: Path) -> Assets:
    """Serve ``folder`` as the app's static files, under hashed names."""
    assets = Assets(folder)

    def fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and isinstance(values.get("filename"), str):
            values["filename"] = assets.address(values["filename"])

    app.url_defaults(fingerprint)
    app.view_functions["static"] = assets.serve
    return assets
