"""Serve the app for real: Hypercorn on a loopback port, for tests that need truly concurrent
HTTP requests."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart


@asynccontextmanager
async def served(app: Quart) -> AsyncIterator[str]:
    """Serve ``app`` with Hypercorn on a free loopback port (a socket we bound, so no race for
    the port) until the block ends; yields the base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)  # bursts of hundreds of connections must not be refused
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{os.dup(listener.fileno())}"]  # Hypercorn closes its copy
    config.accesslog = None
    config.graceful_timeout = 5
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                if server.done():
                    server.result()  # raises what stopped it
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("Hypercorn did not answer /healthz")
        yield base
    finally:
        stop.set()
        await server
        listener.close()
