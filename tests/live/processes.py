"""Real processes for the live channel's tests: ``internet10 serve`` on a loopback port, and a
private ``redis-server`` that a test may stop and start again (the shared test Redis must not be
stopped, and other sessions' frames on it would name their events, not ours)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import IN_CI, SECRET

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CLI = "import sys; from internet10.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    process: asyncio.subprocess.Process
    base: str
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


async def _answers(url: str, process: asyncio.subprocess.Process, within: float) -> bool:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return True
            await asyncio.sleep(0.1)
    return False


@asynccontextmanager
async def serve_app(
    name: str, directory: Path, environment: Mapping[str, str]
) -> AsyncIterator[Served]:
    """``internet10 serve`` (one process) with ``environment`` over a clean INTERNET10_* one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    env.update(
        {
            "INTERNET10_SECRET_KEY": SECRET,
            "INTERNET10_SECURE_COOKIES": "false",
            "PYTHONUNBUFFERED": "1",
            **environment,
        }
    )
    port = free_port()
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        if not await _answers(f"{served.base}/healthz", process, 60):
            raise AssertionError(f"{name} did not start:\n{served.log_tail()}")
        yield served
    finally:
        await stop(process)


@asynccontextmanager
async def run_worker(directory: Path, environment: Mapping[str, str]) -> AsyncIterator[Path]:
    """``internet10 worker`` with ``environment`` over a clean INTERNET10_* one; yields its log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERNET10_")}
    env.update({"INTERNET10_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1", **environment})
    log = directory / "worker.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            "worker",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"running" not in log.read_bytes():
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{log.read_text()}")
            await asyncio.sleep(0.1)
        yield log
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process, grace: float = 15) -> float:
    """SIGTERM, wait (SIGKILL after ``grace`` seconds); returns the seconds it took to exit."""
    started = time.monotonic()
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()
    return time.monotonic() - started


class PrivateRedis:
    """A ``redis-server`` of this test alone, on a fixed port so it can come back there."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            message = "redis-server is not installed (scripts/services.sh installs it)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"redis-server did not listen on {self.port}")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None
