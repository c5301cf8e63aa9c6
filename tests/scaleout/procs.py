"""Real processes for the scale-out tests: ``internet10 serve`` (one or several Hypercorn
workers) and ``internet10 worker``, with their own environment and working directory, stopped
gracefully or killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SECRET, TEST_DATABASE
from tests.live.processes import CLI, _answers, free_port, stop


def postgres_only() -> None:
    """Several processes on one database is what PostgreSQL is for; on SQLite (one writer, one
    file) these tests would measure its lock, not our code: they run in the PostgreSQL pass."""
    if TEST_DATABASE != "postgresql":
        pytest.skip("multi-process tests run on PostgreSQL (make test's second pass)")


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    log: Path
    base: str = ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is given back."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def terminate(self, grace: float = 20) -> float:
        return await stop(self.process, grace)


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERNET10_", "PROMETHEUS"))}
    env.update(
        {
            "INTERNET10_SECRET_KEY": SECRET,
            "INTERNET10_SECURE_COOKIES": "false",
            "INTERNET10_REGISTRATION_RATE_PER_MINUTE": "0",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


async def _spawn(name: str, directory: Path, args: list[str], env: Mapping[str, str]) -> Proc:
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=environment(env),
            cwd=directory,  # the local mailbox (var/mailbox.jsonl) lands here
            start_new_session=True,  # its own process group: Hypercorn's workers go with it
        )
    return Proc(name, process, log)


@asynccontextmanager
async def serving(
    name: str, directory: Path, env: Mapping[str, str], *, workers: int = 1
) -> AsyncIterator[Proc]:
    """``internet10 serve --workers N`` on a free loopback port, until the block ends."""
    port = free_port()
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    proc = await _spawn(name, directory, args, env)
    proc.base = f"http://127.0.0.1:{port}"
    try:
        if not await _answers(f"{proc.base}/healthz", proc.process, 60):
            raise AssertionError(f"{name} did not start:\n{proc.log_tail()}")
        yield proc
    finally:
        if proc.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.process.wait(), 20)
            except TimeoutError:
                await proc.kill()


@asynccontextmanager
async def working(name: str, directory: Path, env: Mapping[str, str]) -> AsyncIterator[Proc]:
    """``internet10 worker`` until the block ends (SIGTERM, then SIGKILL after 20 s)."""
    proc = await _spawn(name, directory, ["worker"], env)
    try:
        yield proc
    finally:
        if proc.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.process.wait(), 20)
            except TimeoutError:
                await proc.kill()


async def eventually(check: object, *, within: float, every: float = 0.1) -> None:
    """Wait until the coroutine function ``check`` returns true."""
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(every)
