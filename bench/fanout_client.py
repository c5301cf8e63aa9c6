"""The live fan-out load client: M Server-Sent Events subscribers and one publisher, in one
process pinned to the client CPU (``python -m bench.fanout_client``; driven by
:mod:`bench.fanout`).

Protocol on stdin/stdout, one JSON object per line: the parent sends a :class:`FanoutSpec`; the
client connects every subscriber (each counts as connected once its stream's first block, the
``retry:`` line, has arrived), prints ``{"connected": n, ...}``, waits for a line ``go``, then
publishes ``events`` times closed-loop (each publish waits until every subscriber received the
previous one), prints the :class:`FanoutResult` and exits.

Subscribers are bare ``asyncio.Protocol`` connections (HTTP/1.1, chunked decoding, SSE framing by
hand): the client must cost as little as possible per delivery, or it measures itself. The
delay of a delivery is from just before the publishing request is sent to the moment its bytes
reach the subscriber, on this process's ``perf_counter_ns`` clock; the k-th message of a stream
is the k-th publish (closed loop, nothing else is published meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

CONNECT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FanoutSpec:
    host: str
    port: int
    live_path: str
    publish_path: str
    publish_body: str
    publish_headers: list[list[str]] = field(default_factory=list)
    subscribers: int = 100
    events: int = 20
    connect_concurrency: int = 200
    event_timeout_s: float = 60.0
    gap_s: float = 0.05


@dataclass
class FanoutResult:
    subscribers: int
    connected: int
    events: int
    published: int
    deliveries: int
    expected: int
    out_of_order: int  # a message whose id was not above the stream's previous one
    unexpected: int  # a message beyond the published ones
    lost_streams: int  # streams that ended during the run
    publish_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    fanout_p50_ms: float  # publish to the last subscriber's receipt, per event
    fanout_max_ms: float
    duration_s: float
    connect_s: float


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] / 1e6


class Run:
    def __init__(self, spec: FanoutSpec) -> None:
        self.spec = spec
        self.sent: list[int] = []
        self.received = [0] * spec.events
        self.last_receipt = [0] * spec.events
        self.done = [asyncio.Event() for _ in range(spec.events)]
        self.delays: list[int] = []
        self.out_of_order = 0
        self.unexpected = 0
        self.lost_streams = 0
        self.connected = 0

    def delivered(self, ordinal: int, at: int) -> None:
        if ordinal >= len(self.sent):
            self.unexpected += 1
            return
        self.delays.append(at - self.sent[ordinal])
        self.received[ordinal] += 1
        self.last_receipt[ordinal] = at
        if self.received[ordinal] == self.connected:
            self.done[ordinal].set()


class Subscriber(asyncio.Protocol):
    def __init__(self, run: Run, request: bytes) -> None:
        self.run = run
        self.request = request
        self.buffer = bytearray()
        self.events = bytearray()
        self.in_body = False
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.count = 0
        self.last_id = 0
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        elif self.transport is not None:
            self.run.lost_streams += 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter_ns()
        self.buffer += data
        if not self.in_body:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            if not head.startswith(b"http/1.1 200") or b"transfer-encoding: chunked" not in head:
                self.ready.set_result(False)
                assert self.transport is not None
                self.transport.close()
                return
            del self.buffer[: end + 4]
            self.in_body = True
        while True:  # chunked transfer coding
            eol = self.buffer.find(b"\r\n")
            if eol < 0:
                break
            size = int(self.buffer[:eol], 16)
            if len(self.buffer) < eol + 4 + size:
                break
            self.events += self.buffer[eol + 2 : eol + 2 + size]
            del self.buffer[: eol + 4 + size]
        while True:
            end = self.events.find(b"\n\n")
            if end < 0:
                return
            block = bytes(self.events[:end])
            del self.events[: end + 2]
            self.block(block, at)

    def block(self, block: bytes, at: int) -> None:
        if block.startswith(b"id: "):
            live_id = int(block[4 : block.index(b"\n")])
            if live_id <= self.last_id:
                self.run.out_of_order += 1
            self.last_id = live_id
            self.count += 1
            self.run.delivered(self.count - 1, at)
        elif block.startswith(b"retry:") and not self.ready.done():
            self.ready.set_result(True)


async def connect_all(run: Run) -> list[Subscriber]:
    spec = run.spec
    loop = asyncio.get_running_loop()
    request = (
        f"GET {spec.live_path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    gate = asyncio.Semaphore(spec.connect_concurrency)
    subscribers: list[Subscriber] = []

    async def one() -> None:
        async with gate:
            subscriber = Subscriber(run, request)
            try:
                await loop.create_connection(lambda: subscriber, spec.host, spec.port)
                ok = await asyncio.wait_for(subscriber.ready, CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                ok = False
            if ok:
                subscribers.append(subscriber)

    await asyncio.gather(*(one() for _ in range(spec.subscribers)))
    run.connected = len(subscribers)
    return subscribers


async def publish_all(run: Run) -> tuple[int, int, float]:
    """(published, errors, seconds): closed loop, one publish after the previous arrived."""
    spec = run.spec
    url = f"http://{spec.host}:{spec.port}{spec.publish_path}"
    headers = {k: v for k, v in spec.publish_headers}
    published = errors = 0
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=spec.event_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for ordinal in range(spec.events):
            run.sent.append(time.perf_counter_ns())
            try:
                async with http.post(url, data=spec.publish_body, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, OSError, TimeoutError):
                ok = False
            if not ok:
                errors += 1
                break
            published += 1
            try:
                await asyncio.wait_for(run.done[ordinal].wait(), spec.event_timeout_s)
            except TimeoutError:
                break  # a delivery is missing: the counts say so
            await asyncio.sleep(spec.gap_s)
    return published, errors, time.perf_counter() - started


async def main_async() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = FanoutSpec(**json.loads(await reader.readline()))
    run = Run(spec)
    began = time.perf_counter()
    subscribers = await connect_all(run)
    connect_s = time.perf_counter() - began
    print(json.dumps({"connected": run.connected, "connect_s": connect_s}), flush=True)
    if (await reader.readline()).strip() != b"go":
        return 2
    published, errors, duration = await publish_all(run)
    await asyncio.sleep(0.2)  # a late or duplicate delivery would show in the counts
    delays = sorted(run.delays)
    fanout = sorted(
        run.last_receipt[k] - run.sent[k] for k in range(published) if run.done[k].is_set()
    )
    result = FanoutResult(
        subscribers=spec.subscribers,
        connected=run.connected,
        events=spec.events,
        published=published,
        deliveries=sum(run.received),
        expected=spec.subscribers * spec.events,
        out_of_order=run.out_of_order,
        unexpected=run.unexpected,
        lost_streams=run.lost_streams,
        publish_errors=errors,
        p50_ms=percentile(delays, 0.50),
        p99_ms=percentile(delays, 0.99),
        max_ms=percentile(delays, 1.0),
        fanout_p50_ms=percentile(fanout, 0.50),
        fanout_max_ms=percentile(fanout, 1.0),
        duration_s=duration,
        connect_s=connect_s,
    )
    for subscriber in subscribers:
        if subscriber.transport is not None:
            subscriber.transport.close()
    print(json.dumps(asdict(result)), flush=True)
    return 0


def parse_result(line: str) -> FanoutResult:
    data: dict[str, Any] = json.loads(line)
    return FanoutResult(**data)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main_async()))
