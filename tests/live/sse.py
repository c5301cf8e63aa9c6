"""A Server-Sent Events reader over aiohttp, for tests: what a browser's EventSource would see,
frame by frame (comments and ``retry:`` included, so tests can assert them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Frame:
    """One block of lines up to a blank line."""

    id: int | None = None
    event: str | None = None
    data: Any = None
    retry: int | None = None
    comments: tuple[str, ...] = field(default=())

    @property
    def is_message(self) -> bool:
        return self.data is not None


class Stream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.ids: list[int] = []  # every message id received, in order

    async def frame(self, within: float = 10.0) -> Frame:
        """The next block; raises ``EOFError`` when the server ended the stream."""
        fields: dict[str, Any] = {}
        comments: list[str] = []
        data: list[str] = []
        while True:
            line = await asyncio.wait_for(self.response.content.readline(), within)
            if not line:
                raise EOFError("the server ended the stream")
            text = line.decode().rstrip("\r\n")
            if text == "":
                if fields or comments or data:
                    break
                continue
            if text.startswith(":"):
                comments.append(text[1:].strip())
                continue
            name, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("id", "retry"):
                fields[name] = int(value)
            elif name == "event":
                fields[name] = value
        if data:
            fields["data"] = json.loads("\n".join(data))
        result = Frame(**fields, comments=tuple(comments))
        if result.is_message and result.id is not None:
            self.ids.append(result.id)
        return result

    async def message(self, within: float = 10.0) -> Frame:
        """The next message within ``within`` seconds in all, skipping comments (heartbeats)
        and ``retry:`` blocks; ``TimeoutError`` when none comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            frame = await self.frame(max(0.0, deadline - loop.time()))
            if frame.is_message:
                return frame

    async def messages(self, count: int, within: float = 10.0) -> list[Frame]:
        return [await self.message(within) for _ in range(count)]

    async def quiet(self, seconds: float) -> list[Frame]:
        """Messages that arrive within ``seconds`` (expected: none)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        got: list[Frame] = []
        try:
            while True:
                got.append(await self.message(max(0.0, deadline - loop.time())))
        except TimeoutError:
            return got


@asynccontextmanager
async def open_stream(
    http: aiohttp.ClientSession,
    url: str,
    *,
    last_event_id: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Stream]:
    """Connect and read the first block (the server sends it once the stream is subscribed,
    with the backlog): after this, every live event committed is on its way."""
    sent = dict(headers or {})
    if last_event_id is not None:
        sent["Last-Event-ID"] = str(last_event_id)
    async with http.get(url, headers=sent) as response:
        assert response.status == 200, await response.text()
        stream = Stream(response)
        first = await stream.frame()
        assert first == Frame(retry=3000), first
        yield stream


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
    )
