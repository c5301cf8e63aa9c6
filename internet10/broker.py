"""The live broker: fans an event's live events out to the Server-Sent Events streams open in
this process, and, with Redis, to the other processes (one pattern subscription per process,
local fan-out behind it).

What a stream is sent, and why nothing is missed or sent twice:

- Each live event travels as its SSE frame (``id: N``, ``event: kind``, ``data: json``),
  serialised once per process, shared by every stream of the event.
- A :class:`Channel` (one per event with open streams here) fans frames out in id order. Live
  events of one event form a chain (``services.live.Recorded.previous_id``): a frame whose
  predecessor is not the last one fanned out arrived early, or its predecessor was lost (Redis
  is at-most-once). The channel then holds it and reads the gap from the database, which is the
  source of truth. It also re-reads when it has been quiet for a heartbeat interval, and after
  every (re)subscription to Redis, so a frame lost while Redis was away, or published by a
  process without a broker, arrives at the latest one interval later.
- A stream joins its channel first, waits until the channel knows where it stands, then reads
  its backlog (after ``Last-Event-ID``) from the database, then sends the channel's frames whose
  id is above the last it sent: every committed live event is in the backlog or comes through
  the channel, and ids only go up.

A stream keeps a list of at most :data:`QUEUE_FRAMES` frames waiting to be sent (references to
the shared bytes); a client too slow to keep up is disconnected, and its browser resumes with
``Last-Event-ID``. Publishing never fails a request: frames for Redis wait in a bounded outbox
drained by one task, and Redis errors are logged, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import FrameType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from internet10.db import Database
from internet10.models import LiveEvent
from internet10.services import live

log = logging.getLogger(__name__)

RETRY_MS = 3000  # the reconnection delay suggested to browsers
SHUTDOWN_RETRY_MS = (1000, 5000)  # at shutdown: spread the reconnections over this window
QUEUE_FRAMES = 256  # frames waiting for one stream; beyond that the client is too slow
HELD_FRAMES = 1000  # frames a channel holds while it reads a gap; beyond that it re-reads
REPAIR_RETRY_S = 0.05  # wait for a frame still in flight before reading the gap again
DB_RETRY_S = 1.0  # after a database error while reading a gap
OUTBOX_FRAMES = 10_000  # frames waiting for Redis; the oldest are dropped beyond that
PUBLISH_BATCH = 100
CHANNEL_PREFIX = "internet10:live:"
BACKOFF_S = (0.1, 5.0)  # Redis reconnection: first and longest wait
FLUSH_AT_CLOSE_S = 2.0  # publishing what is left when the process stops

PREAMBLE = f"retry: {RETRY_MS}\n\n".encode()
HEARTBEAT: tuple[int, bytes] = (-1, b":\n\n")  # a comment: keeps proxies from closing the stream

_OPEN, _CLOSING, _OVERFLOW, _GONE = 0, 1, 2, 3  # a subscriber's state (_GONE: client left)


def frame(live_id: int, kind: str, data: dict[str, Any]) -> bytes:
    """One SSE message. JSON escapes line breaks, so ``data`` is a single line."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {live_id}\nevent: {kind}\ndata: {body}\n\n".encode()


def retry_frame(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


class Subscriber:
    """One open stream: the frames waiting to be sent, and a future to wake its task."""

    __slots__ = ("items", "state", "waiter")

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.waiter: asyncio.Future[None] | None = None
        self.state = _OPEN

    def push(self, item: tuple[int, bytes]) -> None:
        if self.state != _OPEN:
            return
        if len(self.items) >= QUEUE_FRAMES:
            self.items = []
            self.stop(_OVERFLOW)
            return
        self.items.append(item)
        self._wake()

    def stop(self, state: int) -> None:
        if self.state == _OPEN:
            self.state = state
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def take(self) -> list[tuple[int, bytes]]:
        while not self.items and self.state == _OPEN:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        items, self.items = self.items, []
        return items


class Channel:
    """One event's streams in this process, fed in id order (see the module's docstring)."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.subscribers: set[Subscriber] = set()
        self.head: int | None = None  # the last id fanned out; None until read from the database
        self.first_head = 0  # the head read from the database when the channel was made
        self.ready = asyncio.Event()
        self.held: list[tuple[int, int, bytes]] = []  # (previous id, id, frame)
        self.repairing = False
        self.reread = False  # read the database again when the current read ends
        self.quiet = True  # nothing fanned out since the last heartbeat

    def fan_out(self, live_id: int, data: bytes) -> None:
        self.head = live_id
        self.quiet = False
        item = (live_id, data)
        for subscriber in self.subscribers:
            subscriber.push(item)

    def accepts(self, previous_id: int, live_id: int) -> bool | None:
        """True: next in the chain; False: already fanned out; None: a gap before it."""
        assert self.head is not None
        if live_id <= self.head:
            return False
        return True if previous_id == self.head else None


class Broker:
    """Live fan-out for one process: in-process alone, across processes with ``redis``."""

    def __init__(
        self, database: Database, *, heartbeat_seconds: float, redis: Redis | None = None
    ) -> None:
        self.database = database
        self.heartbeat_seconds = heartbeat_seconds
        self.channels: dict[int, Channel] = {}
        self.relay = RedisRelay(redis, self) if redis is not None else None
        self.closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._spawn(self._tick())
        if self.relay is not None:
            self._spawn(self.relay.listen())
            self._spawn(self.relay.drain())

    def begin_shutdown(self) -> None:
        """End every stream now with a reconnection hint (the server is stopping)."""
        self.closing = True
        for channel in self.channels.values():
            for subscriber in channel.subscribers:
                subscriber.stop(_CLOSING)

    async def close(self) -> None:
        self.begin_shutdown()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.relay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.relay.flush(), FLUSH_AT_CLOSE_S)

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, records: Sequence[live.Recorded]) -> None:
        """``Database.on_commit``: committed live events, to this process's streams and Redis."""
        for record in records:
            data = frame(record.id, record.kind, record.data)
            self.receive(record.event_id, record.previous_id, record.id, data)
            if self.relay is not None:
                self.relay.publish(record.event_id, record.previous_id, record.id, data)

    def receive(self, event_id: int, previous_id: int, live_id: int, data: bytes) -> None:
        """A frame from this process or from Redis (which also echoes this process's own)."""
        channel = self.channels.get(event_id)
        if channel is None:
            return  # no stream of this event here
        if channel.head is None or channel.repairing:
            self._hold(channel, previous_id, live_id, data)
            return
        accepted = channel.accepts(previous_id, live_id)
        if accepted:
            channel.fan_out(live_id, data)
        elif accepted is None:
            self._hold(channel, previous_id, live_id, data)
            self._repair(channel)

    def _hold(self, channel: Channel, previous_id: int, live_id: int, data: bytes) -> None:
        if len(channel.held) >= HELD_FRAMES:
            channel.held.clear()  # the database has them all: read it instead
            channel.reread = True
        channel.held.append((previous_id, live_id, data))

    def resync(self) -> None:
        """Read every channel's news from the database (after Redis trouble)."""
        for channel in self.channels.values():
            self._repair(channel)

    # --- channels ---------------------------------------------------------------------------

    def _join(self, event_id: int, subscriber: Subscriber) -> tuple[Channel, int | None]:
        """The channel, and its head as the subscriber joins (``None``: not read yet; then
        ``first_head`` once it is ready): the subscriber gets every frame after it."""
        channel = self.channels.get(event_id)
        if channel is None:
            channel = self.channels[event_id] = Channel(event_id)
            self._repair(channel)  # learns the head
        channel.subscribers.add(subscriber)
        return channel, channel.head

    def _leave(self, channel: Channel, subscriber: Subscriber) -> None:
        channel.subscribers.discard(subscriber)
        if not channel.subscribers and self.channels.get(channel.event_id) is channel:
            del self.channels[channel.event_id]

    def _repair(self, channel: Channel) -> None:
        if channel.repairing:
            channel.reread = True
            return
        channel.repairing = True
        self._spawn(self._read_gap(channel))

    async def _read_gap(self, channel: Channel) -> None:
        """Fan out what the database has after the channel's head, then the held frames that
        follow; repeat while frames are held that do not follow (their predecessor is on its
        way) or a re-read was asked for. One such task per channel at a time."""
        try:
            while self.channels.get(channel.event_id) is channel:
                channel.reread = False
                try:
                    rows = await self._rows_after(channel)
                except (SQLAlchemyError, OSError):
                    log.warning("live: reading event %s's live events failed", channel.event_id)
                    await asyncio.sleep(DB_RETRY_S)
                    continue
                assert channel.head is not None
                for row in rows:
                    if row.id > channel.head:
                        channel.fan_out(row.id, frame(row.id, row.kind, row.data))
                channel.ready.set()
                waiting = []
                for previous_id, live_id, data in sorted(channel.held, key=lambda h: h[1]):
                    accepted = channel.accepts(previous_id, live_id)
                    if accepted:
                        channel.fan_out(live_id, data)
                    elif accepted is None:
                        waiting.append((previous_id, live_id, data))
                channel.held = waiting
                if not waiting and not channel.reread:
                    break
                await asyncio.sleep(REPAIR_RETRY_S)
        finally:
            channel.repairing = False

    async def _rows_after(self, channel: Channel) -> list[LiveEvent]:
        async with self.database.read() as db:
            if channel.head is None:
                channel.head = channel.first_head = await live.head(db, channel.event_id)
                return []
            rows: list[LiveEvent] = []
            while True:
                after = rows[-1].id if rows else channel.head
                page = await live.since(db, channel.event_id, after)
                rows.extend(page)
                if len(page) < live.MAX_BACKLOG:
                    return rows

    async def _tick(self) -> None:
        """Every heartbeat interval: a comment to the streams of quiet channels, and a look at
        the database for them (what Redis lost, or what a process without a broker wrote)."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for channel in list(self.channels.values()):
                if channel.quiet:
                    for subscriber in channel.subscribers:
                        if not subscriber.items:
                            subscriber.push(HEARTBEAT)
                    self._repair(channel)
                channel.quiet = True

    # --- streams ----------------------------------------------------------------------------

    def stream(
        self, event_id: int, after_id: int | None, subscriber: Subscriber | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The SSE body for one client: its backlog after ``after_id`` (``None``: from now on),
        then live frames, heartbeats, and a reconnection hint when the server stops. It ends
        when ``subscriber`` is stopped (:meth:`Subscriber.stop`, e.g. the client went away).

        The caller has checked that the client may see the event."""
        return self._frames(event_id, after_id, subscriber or Subscriber())

    async def _frames(
        self, event_id: int, after_id: int | None, subscriber: Subscriber
    ) -> AsyncGenerator[bytes, None]:
        if self.closing:
            yield retry_frame(random.randint(*SHUTDOWN_RETRY_MS))  # noqa: S311 - spreading load, not a secret
            return
        channel, joined_at = self._join(event_id, subscriber)
        try:
            await channel.ready.wait()
            if after_id is None:  # from now: every frame after the head as it joined
                backlog, last = b"", channel.first_head if joined_at is None else joined_at
            else:
                backlog, last = await self._backlog(event_id, after_id)
            yield PREAMBLE + backlog
            while True:
                items = await subscriber.take()
                chunk = []
                for live_id, data in items:
                    if live_id > last:
                        last = live_id
                        chunk.append(data)
                    elif live_id < 0:
                        chunk.append(data)
                if subscriber.state == _CLOSING:
                    chunk.append(retry_frame(random.randint(*SHUTDOWN_RETRY_MS)))  # noqa: S311 - spreading load
                if chunk and subscriber.state != _GONE:
                    yield b"".join(chunk)
                if subscriber.state != _OPEN:
                    return
        finally:
            self._leave(channel, subscriber)

    async def serve(
        self,
        event_id: int,
        after_id: int | None,
        start: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Send one stream over ASGI: ``start`` (the ``http.response.start`` message) once the
        stream is subscribed and its backlog read (so a client that sees the response open
        misses nothing after that), then :meth:`stream`'s chunks until the client goes away or
        the server stops. One task watches ``receive`` for the client's disconnection."""
        subscriber = Subscriber()
        watcher = asyncio.get_running_loop().create_task(_watch(receive, subscriber))
        frames = self.stream(event_id, after_id, subscriber)
        try:
            first = await anext(frames)
            await send(start)
            await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in frames:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if subscriber.state != _GONE:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            await frames.aclose()  # leaves the channel now, even if a send failed

    async def _backlog(self, event_id: int, after_id: int) -> tuple[bytes, int]:
        """(frames after ``after_id``, the last id they reach). A client further behind than
        ``live.MAX_BACKLOG`` events, or ahead of the database, is told to reload its page."""
        async with self.database.read() as db:
            head = await live.head(db, event_id)
            if after_id == head:
                return b"", head
            if after_id < head:
                rows = await live.since(db, event_id, after_id, limit=live.MAX_BACKLOG + 1)
                if len(rows) <= live.MAX_BACKLOG:
                    return b"".join(frame(r.id, r.kind, r.data) for r in rows), rows[-1].id
        return frame(head, "reload", {}), head

    def subscriber_count(self, event_id: int | None = None) -> int:
        channels = self.channels.values() if event_id is None else [self.channels.get(event_id)]
        return sum(len(c.subscribers) for c in channels if c is not None)


async def _watch(receive: Callable[[], Awaitable[dict[str, Any]]], subscriber: Subscriber) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    subscriber.stop(_GONE)


class RedisRelay:
    """Frames to and from Redis: a bounded outbox drained by one task, and one pattern
    subscription per process that feeds :meth:`Broker.receive`."""

    def __init__(self, redis: Redis, broker: Broker) -> None:
        self.redis = redis
        self.broker = broker
        self.outbox: deque[tuple[str, bytes]] = deque()
        self.pending = asyncio.Event()
        self.publish_failing = False
        self.dropped = 0

    def publish(self, event_id: int, previous_id: int, live_id: int, data: bytes) -> None:
        if len(self.outbox) >= OUTBOX_FRAMES:
            self.outbox.popleft()
            self.dropped += 1
        self.outbox.append(
            (f"{CHANNEL_PREFIX}{event_id}", b"%d %d\n" % (previous_id, live_id) + data)
        )
        self.pending.set()

    async def drain(self) -> None:
        while True:
            await self.pending.wait()
            self.pending.clear()
            await self.flush()

    async def flush(self) -> None:
        while self.outbox:
            batch = [self.outbox.popleft() for _ in range(min(PUBLISH_BATCH, len(self.outbox)))]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                if not self.publish_failing:
                    log.warning(
                        "live: publishing to Redis failed (%s); streams elsewhere catch up from "
                        "the database",
                        type(exc).__name__,
                    )
                self.publish_failing = True
                continue
            if self.publish_failing:
                log.info("live: publishing to Redis again")
                self.publish_failing = False

    async def listen(self) -> None:
        """One pattern subscription, re-made with backoff when Redis goes away. Every
        subscription acknowledgement (ours, or redis-py's own after a reconnect) makes every
        channel read what it may have missed from the database."""
        delay = BACKOFF_S[0]
        failing = False
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        if failing:
                            log.info("live: subscribed to Redis again")
                        failing = False
                        delay = BACKOFF_S[0]
                        self.broker.resync()
                    elif message["type"] == "pmessage":
                        self._deliver(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning(
                        "live: Redis subscription lost (%s); reconnecting", type(exc).__name__
                    )
                failing = True
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(delay * (1 + random.random() / 2))  # noqa: S311 - jitter
            delay = min(delay * 2, BACKOFF_S[1])

    def _deliver(self, channel: bytes | str, message: bytes | str) -> None:
        if isinstance(channel, str):  # a client made with decode_responses=True
            channel = channel.encode()
        if isinstance(message, str):
            message = message.encode()
        try:
            event_id = int(channel[len(CHANNEL_PREFIX) :])
            header, data = message.split(b"\n", 1)
            previous, live_id = (int(n) for n in header.split(b" "))
        except ValueError:
            log.warning("live: ignoring a malformed message on %r", channel)
            return
        self.broker.receive(event_id, previous, live_id, data)


def end_streams_on_signals(broker: Broker) -> Callable[[], None]:
    """Make SIGTERM and SIGINT end every stream at once, then do what they did before.

    Hypercorn waits for open responses (up to its graceful timeout) before it tells the app it
    is stopping, so without this every open stream would hold a stopping server for that long.
    The previous handler still runs (asyncio's signal dispatch, which Hypercorn or our CLI uses,
    is driven by the wake-up fd and is not replaced). Signals that are ignored or left to their
    default are left alone: in Hypercorn's multi-worker mode the workers ignore SIGINT and are
    told to stop through a multiprocessing event instead, and then their streams end at the
    graceful timeout. Returns a function that puts the previous handlers back.
    """
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def on_signal(signum: int, frame_: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to end
            loop.call_soon_threadsafe(broker.begin_shutdown)
        previous[signum](signum, frame_)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            prior = signal.getsignal(sig)
            if not callable(prior):
                continue  # SIG_IGN, SIG_DFL or not set from Python
            signal.signal(sig, on_signal)
        except ValueError:
            return lambda: None  # not the main thread: signals are not ours to handle
        previous[sig] = prior

    def restore() -> None:
        for sig, prior in previous.items():
            with contextlib.suppress(ValueError):
                if signal.getsignal(sig) is on_signal:
                    signal.signal(sig, prior)

    return restore
