"""Load clients: wrk when it is installed, else a keep-alive aiohttp client of our own.

Both run as a subprocess pinned to the client CPU, hold ``connections`` keep-alive connections
busy for ``duration_s`` seconds (closed loop: each connection sends its next request when the
previous answer has arrived), and report throughput, p50 and p99 latency and every response whose
status is not the expected one. Both targets of a workload are always measured with the same
client and the same :class:`LoadSpec` settings.

``python -m bench.client`` is the aiohttp client's subprocess entry point: it reads a JSON
:class:`LoadSpec` on standard input and prints a JSON :class:`LoadResult`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bench.servers import REPO_ROOT, BenchError, subprocess_env


@dataclass(frozen=True)
class LoadSpec:
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    expected_status: int = 200
    connections: int = 64
    duration_s: float = 10.0
    timeout_s: float = 30.0

    def to_json(self) -> str:
        data = asdict(self)
        data["body"] = base64.b64encode(self.body).decode()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> LoadSpec:
        data = json.loads(text)
        data["body"] = base64.b64decode(data["body"])
        data["headers"] = tuple((str(k), str(v)) for k, v in data["headers"])
        return cls(**data)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    unexpected_status: int
    socket_errors: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.unexpected_status + self.socket_errors

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadResult:
        statuses = {int(k): int(v) for k, v in data.pop("statuses", {}).items()}
        return cls(**data, statuses=statuses)


class LoadClient(Protocol):
    name: str

    async def run(self, spec: LoadSpec) -> LoadResult: ...


async def _run_subprocess(
    command: Sequence[str], stdin: bytes | None, timeout_s: float
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
        cwd=REPO_ROOT,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    finally:
        if process.returncode is None:  # timed out or cancelled: do not leave it behind
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# --- wrk ----------------------------------------------------------------------------------------

_WRK_SCRIPT = """\
wrk.method = {method}
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {{}} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do
      io.write(string.format("BENCH_STATUS %d %d\\n", status, n))
    end
  end
  local e = summary.errors
  io.write(string.format("BENCH_ERRORS %d %d %d %d\\n", e.connect, e.read, e.write, e.timeout))
end
"""


def _lua_string(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return '"' + "".join(f"\\{b:03d}" for b in raw) + '"'


def wrk_script(spec: LoadSpec) -> str:
    """A wrk Lua script sending ``spec``'s request and counting responses by status."""
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in spec.headers
    )
    return _WRK_SCRIPT.format(
        method=_lua_string(spec.method),
        body=_lua_string(spec.body) if spec.body else "nil",
        headers=headers,
    )


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk_output(output: str, expected_status: int) -> LoadResult:
    """Read wrk's ``--latency`` report and our script's status and error lines."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise BenchError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    requests_match = find(r"^\s*(\d+) requests in ([0-9.]+\w+),")
    statuses: Counter[int] = Counter()
    for status, count in re.findall(r"^BENCH_STATUS (\d+) (\d+)$", output, re.MULTILINE):
        statuses[int(status)] += int(count)
    connect, read, write, timeout = (
        int(n) for n in find(r"^BENCH_ERRORS (\d+) (\d+) (\d+) (\d+)$").groups()
    )
    requests = int(requests_match.group(1))
    return LoadResult(
        requests=requests,
        duration_s=_duration_ms(requests_match.group(2)) / 1000.0,
        rps=float(find(r"^Requests/sec:\s+([0-9.]+)").group(1)),
        p50_ms=_duration_ms(find(r"^\s+50%\s+(\S+)").group(1)),
        p99_ms=_duration_ms(find(r"^\s+99%\s+(\S+)").group(1)),
        unexpected_status=sum(n for s, n in statuses.items() if s != expected_status),
        socket_errors=connect + read + write + timeout,
        statuses=dict(sorted(statuses.items())),
    )


@dataclass
class WrkClient:
    """``wrk -t1 -cN -dTs --latency`` with a Lua script for the request and status counts."""

    executable: str
    pin: tuple[str, ...] = ()
    name: str = "wrk"

    async def run(self, spec: LoadSpec) -> LoadResult:
        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
            script = Path(tmp) / "request.lua"
            script.write_text(wrk_script(spec))
            command = [
                *self.pin,
                self.executable,
                "-t1",
                f"-c{spec.connections}",
                f"-d{max(1, round(spec.duration_s))}s",
                f"--timeout={max(1, round(spec.timeout_s))}s",
                "--latency",
                "-s",
                str(script),
                spec.url,
            ]
            code, out, err = await _run_subprocess(command, None, spec.duration_s + 60)
        if code != 0:
            raise BenchError(f"wrk exited with {code}:\n{out}\n{err}")
        return parse_wrk_output(out, spec.expected_status)


# --- aiohttp ------------------------------------------------------------------------------------


def percentile_ms(sorted_ns: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted nanosecond latencies, in milliseconds."""
    if not sorted_ns:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


async def aiohttp_load(spec: LoadSpec) -> LoadResult:
    """Closed-loop load over ``spec.connections`` keep-alive connections for ``spec.duration_s``."""
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    socket_errors = 0
    headers = dict(spec.headers)
    body = spec.body or None
    connector = aiohttp.TCPConnector(limit=spec.connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    clock = time.perf_counter_ns
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(deadline: int) -> None:
            nonlocal socket_errors
            while clock() < deadline:
                started = clock()
                try:
                    async with session.request(
                        spec.method, spec.url, data=body, headers=headers
                    ) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, OSError, TimeoutError):
                    socket_errors += 1
                    continue
                latencies.append(clock() - started)
                statuses[status] += 1

        began = clock()
        deadline = began + int(spec.duration_s * 1e9)
        await asyncio.gather(*(worker(deadline) for _ in range(spec.connections)))
        elapsed_s = (clock() - began) / 1e9
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        duration_s=elapsed_s,
        rps=len(latencies) / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=percentile_ms(latencies, 0.50),
        p99_ms=percentile_ms(latencies, 0.99),
        unexpected_status=sum(n for s, n in statuses.items() if s != spec.expected_status),
        socket_errors=socket_errors,
        statuses=dict(sorted(statuses.items())),
    )


@dataclass
class AiohttpClient:
    """Our own keep-alive client, run as ``python -m bench.client`` on the client CPU."""

    pin: tuple[str, ...] = ()
    name: str = "aiohttp"

    async def run(self, spec: LoadSpec) -> LoadResult:
        command = [*self.pin, sys.executable, "-m", "bench.client"]
        code, out, err = await _run_subprocess(
            command, spec.to_json().encode(), spec.duration_s + spec.timeout_s + 60
        )
        if code != 0:
            raise BenchError(f"aiohttp client exited with {code}:\n{err}")
        return LoadResult.from_dict(json.loads(out))


def make_client(kind: str, pin: tuple[str, ...]) -> LoadClient:
    """``kind``: ``wrk``, ``aiohttp`` or ``auto`` (wrk when on PATH, else aiohttp)."""
    if kind in ("auto", "wrk"):
        executable = shutil.which("wrk")
        if executable is not None:
            return WrkClient(executable, pin)
        if kind == "wrk":
            raise BenchError("wrk is not on PATH (apt-get install wrk), use --client aiohttp")
    return AiohttpClient(pin)


def main() -> int:
    spec = LoadSpec.from_json(sys.stdin.read())
    result = asyncio.run(aiohttp_load(spec))
    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
