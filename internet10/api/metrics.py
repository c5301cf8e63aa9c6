"""``GET /metrics``: Prometheus' text format (see ``internet10.metrics`` for the series).

Who may scrape: with ``INTERNET10_METRICS_TOKEN`` set, whoever sends it as
``Authorization: Bearer <token>``, from anywhere. Without it, only a direct peer on a loopback
or private address (a Prometheus beside the app, in its network): a request carrying
``X-Forwarded-For`` came through a proxy or load balancer, from anyone, and is refused even when
the proxy's own address is private. Refusals are 403 with a plain-text reason."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from quart import Blueprint, Response, request
from quart_schema import hide
from sqlalchemy.exc import SQLAlchemyError

from internet10 import metrics
from internet10.web import state

blueprint = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

DATABASE_TIMEOUT_S = 5.0
# Loopback, RFC 1918, IPv6 unique-local (Python's ``is_private`` also counts documentation and
# other reserved ranges: this list is what "our own network" means here).
SCRAPERS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")
)


def _refusal() -> str | None:
    """Why this request may not scrape, or None."""
    token = state().settings.metrics_token
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return None
        return "send INTERNET10_METRICS_TOKEN as 'Authorization: Bearer <token>'"
    if request.headers.get("X-Forwarded-For") is not None:
        return "scraping through a proxy needs INTERNET10_METRICS_TOKEN"
    try:
        peer = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
    except ValueError:
        return "unknown client address"
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    if any(peer in network for network in SCRAPERS):
        return None
    return "only loopback and private addresses may scrape without INTERNET10_METRICS_TOKEN"


@blueprint.get("/metrics")
@hide
async def scrape() -> Response:
    refused = _refusal()
    if refused is not None:
        return Response(f"forbidden: {refused}\n", status=403, content_type="text/plain")
    st = state()
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S), st.db.read() as db:
            families = await metrics.database_families(db, now=st.now())
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("metrics: the database did not answer: %s", type(exc).__name__)
        families = metrics.database_down()
    return Response(metrics.exposition(families), content_type=metrics.CONTENT_TYPE)
