"""Start and stop the servers under test: Hypercorn in a subprocess, pinned to one CPU.

The app and the baseline are started by :func:`start_hypercorn` with the same command line
(:func:`hypercorn_command`), so that the only difference between them is the ASGI callable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent

HYPERCORN_WORKERS = 1
HYPERCORN_BACKLOG = 2048
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class BenchError(Exception):
    """The benchmark could not run (a server did not start, setup failed, ...)."""


@dataclass(frozen=True)
class Pinning:
    """Command prefixes that pin the server and the load client to different CPUs."""

    server: tuple[str, ...]
    client: tuple[str, ...]
    description: str


def plan_pinning(enabled: bool = True) -> Pinning:
    """Server on the first allowed CPU, client on the second; no pinning when that is impossible."""
    if not enabled:
        return Pinning((), (), "not pinned (--no-pin)")
    taskset = shutil.which("taskset")
    cpus = sorted(os.sched_getaffinity(0))
    if taskset is None:
        return Pinning((), (), "not pinned (taskset not found)")
    if len(cpus) < 2:
        return Pinning((), (), f"not pinned (only CPU {cpus} available)")
    server, client = cpus[0], cpus[1]
    return Pinning(
        (taskset, "-c", str(server)),
        (taskset, "-c", str(client)),
        f"server on CPU {server}, client on CPU {client} (taskset)",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hypercorn_command(app_path: str, port: int, prefix: Sequence[str] = ()) -> list[str]:
    """The one Hypercorn command line used for every server under test (no access log)."""
    return [
        *prefix,
        sys.executable,
        "-m",
        "hypercorn",
        app_path,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(HYPERCORN_WORKERS),
        "--backlog",
        str(HYPERCORN_BACKLOG),
    ]


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for our subprocesses: ``bench`` importable, unbuffered output."""
    env = dict(os.environ)
    env.update(extra or {})
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    name: str
    app_path: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    command: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.returncode is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def _wait_ready(server: Server, ready_path: str, timeout_s: float) -> bool:
    """True once the server answers HTTP on ``ready_path`` (any status); False if it died."""
    deadline = time.monotonic() + timeout_s
    client_timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        while time.monotonic() < deadline:
            if not server.alive():
                return False
            try:
                async with session.get(server.url + ready_path) as response:
                    await response.read()
                    return True
            except (aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.sleep(0.1)
    raise BenchError(f"{server.name} did not answer within {timeout_s:.0f} s:\n{server.log_tail()}")


async def start_hypercorn(
    name: str,
    app_path: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    pin: Sequence[str] = (),
    ready_path: str = "/",
) -> Server:
    """Start ``app_path`` under Hypercorn on a free port and wait until it answers.

    The process gets its own session (process group): :func:`stop_server` signals the group, so
    Hypercorn's worker process goes with its parent. A port taken between picking and binding is
    retried on another one.
    """
    for attempt in range(3):
        port = free_port()
        command = hypercorn_command(app_path, port, pin)
        log_path = log_dir / f"{name}-{attempt}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=subprocess_env(env),
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        server = Server(name, app_path, port, process, log_path, tuple(command))
        try:
            if await _wait_ready(server, ready_path, START_TIMEOUT_S):
                return server
        except BaseException:
            await stop_server(server)
            raise
        await stop_server(server)
        if "address already in use" not in server.log_tail().lower():
            break
    raise BenchError(f"{name} ({app_path}) exited at start:\n{server.log_tail()}")


def _signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def stop_server(server: Server) -> None:
    """SIGTERM the server's process group, wait, then SIGKILL whatever is left of it."""
    process = server.process
    if process.returncode is None:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    if process.returncode != 0:
        # Still running, or died abnormally: Hypercorn's worker may be left in the group.
        _signal_group(process, signal.SIGKILL)
        await process.wait()
