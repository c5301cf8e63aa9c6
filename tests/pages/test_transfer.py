"""What a page costs on the wire: text compressed with gzip, static files under hashed names
cached for a year, nothing compressed that streams."""

from __future__ import annotations

import gzip
import re

import pytest
from quart.typing import TestClientProtocol as Client

from internet10.compression import MIN_BYTES

pytestmark = pytest.mark.integration

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/app\.([0-9a-f]{12})\.css)">')


async def test_a_page_is_gzipped_for_browsers_that_accept_it(client: Client) -> None:
    plain = await client.get("/login?lang=en")
    html = await plain.get_data()
    assert len(html) > MIN_BYTES
    assert "Content-Encoding" not in plain.headers
    packed = await client.get("/login?lang=en", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    body = await packed.get_data()
    assert int(packed.headers["Content-Length"]) == len(body)
    assert gzip.decompress(body) == html
    assert len(body) < len(html) * 0.6


async def test_small_and_binary_answers_are_left_alone(client: Client) -> None:
    small = await client.get("/healthz", headers=GZIP)
    assert len(await small.get_data()) < MIN_BYTES
    assert "Content-Encoding" not in small.headers
    redirect = await client.get("/staff", headers=GZIP)
    assert redirect.status_code == 302
    assert "Content-Encoding" not in redirect.headers


async def test_static_files_have_hashed_addresses_cached_for_a_year(client: Client) -> None:
    html = await (await client.get("/")).get_data(as_text=True)
    match = STYLESHEET.search(html)
    assert match, "the stylesheet's address carries its content hash"
    address, digest = match.groups()
    plain = await client.get("/static/app.css")
    css = await plain.get_data()
    assert plain.headers["Cache-Control"] == "no-cache"
    hashed = await client.get(address, headers=GZIP)
    assert hashed.status_code == 200
    assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert hashed.headers["Content-Type"] == "text/css; charset=utf-8"
    assert hashed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await hashed.get_data()) == css
    again = await client.get(address, headers=GZIP | {"If-None-Match": hashed.headers["ETag"]})
    assert again.status_code == 304
    assert await again.get_data() == b""
    assert (await client.get(address.replace(digest, "0" * 12))).status_code == 404
    assert (await client.get("/static/nothing-here.css")).status_code == 404
