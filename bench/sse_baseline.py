"""The live fan-out baseline: a bare asyncio Server-Sent Events server (no framework, no ASGI).

``GET /live`` opens a stream (HTTP/1.1, chunked, like Hypercorn's) that starts with a
``retry:`` block; ``POST /publish`` turns its body into one message (``id: N``, ``event:
running``, ``data: <body>``) written to every open stream, then answers 200 ``{"id": N}``;
``GET /healthz`` answers 200. What it costs per subscriber and per delivery is the floor the
app's live channel is compared with.

Run it with ``python -m bench.sse_baseline PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

PREAMBLE = b"retry: 3000\n\n"
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-store\r\ntransfer-encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def reply(status: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 %b\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (
        status,
        len(body),
        body,
    )


class Hub:
    def __init__(self) -> None:
        self.streams: set[asyncio.Transport] = set()
        self.last_id = 0

    def publish(self, data: bytes) -> int:
        self.last_id += 1
        message = chunk(b"id: %d\nevent: running\ndata: %b\n\n" % (self.last_id, data))
        for transport in self.streams:
            transport.write(message)
        return self.last_id


class Connection(asyncio.Protocol):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.hub.streams.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.handle(method, path, body)

    def handle(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if method == "GET" and path.startswith("/live"):
            self.transport.write(STREAM_HEAD + chunk(PREAMBLE))
            self.hub.streams.add(self.transport)
        elif method == "POST" and path == "/publish":
            live_id = self.hub.publish(body)
            self.transport.write(reply(b"200 OK", b'{"id": %d}' % live_id))
        elif path == "/healthz":
            self.transport.write(reply(b"200 OK", b'{"status": "ok"}'))
        else:
            self.transport.write(reply(b"404 Not Found", b'{"code": "NOT_FOUND"}'))


async def serve(port: int) -> None:
    hub = Hub()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(hub), "127.0.0.1", port, backlog=2048, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"sse baseline on http://127.0.0.1:{port}", flush=True)
    await stop.wait()
    server.close()
    for transport in list(hub.streams):
        transport.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
