"""Live fan-out workloads (``live_fanout_100``, ``_1000``, ``_5000``): M Server-Sent Events
subscribers on one event's live channel while changes are published one after another.

The app publishes through the moderator's running-order action (``POST
/api/v1/slots/{id}/live`` ``{"action": "extend", "minutes": 1}``: a locked write that records a
``running`` live event of about 1.3 KB); the Q&A endpoints publish through the same
``services.live.record`` and ``Database.on_commit``. The baseline is :mod:`bench.sse_baseline`, a
bare asyncio SSE server whose ``POST /publish`` sends a message of the same size. Both are
driven by :mod:`bench.fanout_client` pinned to the client CPU.

Each run starts a fresh server process on the server CPU (the app: the same Hypercorn command as
every other workload; on PostgreSQL runs with ``$INTERNET10_TEST_REDIS_URL`` as its Redis, the
runner's default), warms it up with 10 subscribers and 2 publishes, reads its resident memory,
connects the M subscribers, reads it again (memory per subscriber = the difference / M),
publishes 20 times closed-loop, and stops it. A fresh process per run keeps one run's freed
memory from hiding the next run's growth. Every subscriber must receive every publish, once and
in order, or the run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.backends import app_env
from bench.client import LoadClient, LoadResult
from bench.fanout_client import FanoutResult, FanoutSpec, parse_result
from bench.servers import (
    REPO_ROOT,
    BenchError,
    Server,
    free_port,
    plan_pinning,
    start_hypercorn,
    stop_server,
    subprocess_env,
)
from bench.workloads import (
    AppContext,
    HttpRequest,
    Measurement,
    Plan,
    RunSettings,
    Target,
    TargetKind,
    create_published_event,
    register,
)

APP_ASGI = "internet10.asgi:app"
EVENTS = 20
WARMUP_SUBSCRIBERS, WARMUP_EVENTS = 10, 2
SETTLE_S = 1.0  # after the last subscriber connected, before reading memory
CLIENT_TIMEOUT_S = 600.0


def baseline_body() -> str:
    """A running order of ten slots, shaped and sized like the app's ``running`` message."""
    slots = [
        {
            "id": 100 + n,
            "position": n,
            "status": "upcoming",
            "estimated_start": "2026-12-19T12:15:00Z",
            "estimated_end": "2026-12-19T12:38:00Z",
            "drift_minutes": 0,
        }
        for n in range(1, 11)
    ]
    return json.dumps({"event_status": "live", "slots": slots}, separators=(",", ":"))


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid``'s process group (Hypercorn's parent and its worker), KiB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pid:  # fields[2] is the process group
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


async def start_baseline(log_dir: Path, pin: tuple[str, ...]) -> Server:
    port = free_port()
    command = [*pin, sys.executable, "-m", "bench.sse_baseline", str(port)]
    log_path = log_dir / f"sse-baseline-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=subprocess_env(),
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    server = Server("sse-baseline", "bench.sse_baseline", port, process, log_path, tuple(command))
    for _ in range(300):
        if not server.alive():
            break
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return server
        await asyncio.sleep(0.1)
    await stop_server(server)
    raise BenchError(f"the SSE baseline did not start:\n{server.log_tail()}")


async def drive(
    spec: FanoutSpec, pin: tuple[str, ...], server: Server
) -> tuple[FanoutResult, int, int]:
    """Run the client: (its result, server KiB before connecting, after connecting)."""
    process = await asyncio.create_subprocess_exec(
        *pin,
        sys.executable,
        "-m",
        "bench.fanout_client",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
        cwd=REPO_ROOT,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            before = rss_kib(server.process.pid)
            process.stdin.write(json.dumps(asdict(spec)).encode() + b"\n")
            await process.stdin.drain()
            connected = await process.stdout.readline()
            if not connected:
                raise BenchError(f"fan-out client failed: {await _stderr(process)}")
            await asyncio.sleep(SETTLE_S)
            after = rss_kib(server.process.pid)
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            line = await process.stdout.readline()
            if not line:
                raise BenchError(f"fan-out client failed: {await _stderr(process)}")
            await process.wait()
            return parse_result(line.decode()), before, after
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _stderr(process: Any) -> str:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5)
    data = await process.stderr.read() if process.stderr else b""
    return str(data.decode(errors="replace"))[-2000:]


def problems_of(label: str, result: FanoutResult) -> list[str]:
    found = []
    if result.connected != result.subscribers:
        found.append(f"{label}: {result.connected} of {result.subscribers} subscribers connected")
    if result.published != result.events or result.publish_errors:
        found.append(
            f"{label}: {result.published} of {result.events} publishes answered 200 "
            f"({result.publish_errors} errors)"
        )
    if result.deliveries != result.expected:
        found.append(f"{label}: {result.deliveries} deliveries, expected {result.expected}")
    if result.out_of_order or result.unexpected or result.lost_streams:
        found.append(
            f"{label}: {result.out_of_order} out of order, {result.unexpected} unexpected, "
            f"{result.lost_streams} streams lost"
        )
    return found


@dataclass(frozen=True)
class LiveFanout:
    subscribers: int
    events: int = EVENTS
    uses_database: bool = True

    @property
    def name(self) -> str:
        return f"live_fanout_{self.subscribers}"

    @property
    def description(self) -> str:
        return (
            f"{self.subscribers:,} SSE subscribers of one event, {self.events} running-order "
            "changes published one after another (delay publish to receipt, memory)"
        )

    async def setup(self, app: AppContext) -> Plan:
        event_id = await create_published_event(app)
        order = await app.api(
            "GET", f"/api/v1/events/{event_id}/running-order", authenticated=False
        )
        slot_id = int(order["slots"][0]["id"])
        body = json.dumps({"action": "extend", "minutes": 1}).encode()
        path = f"/api/v1/slots/{slot_id}/live"
        await app.api("POST", path, {"action": "extend", "minutes": 1}, expected=(200,))
        headers = (*app.auth_headers, ("Content-Type", "application/json"))
        return Plan(
            app=HttpRequest(path, "POST", headers, body),
            baseline=HttpRequest("/publish", "POST", (), baseline_body().encode()),
            data={"live_path": f"/api/v1/events/{event_id}/live"},
        )

    async def run(self, target: Target, client: LoadClient, settings: RunSettings) -> Measurement:
        del settings  # a fixed number of publishes, not a duration
        client_pin: tuple[str, ...] = getattr(client, "pin", ())
        server_pin = plan_pinning(True).server if client_pin else ()
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
            server = await self._start(target, Path(tmp), server_pin)
            try:
                spec = FanoutSpec(
                    host="127.0.0.1",
                    port=server.port,
                    live_path=str(target.plan.data["live_path"])
                    if target.kind is TargetKind.APP
                    else "/live",
                    publish_path=target.request.path,
                    publish_body=target.request.body.decode(),
                    publish_headers=[[k, v] for k, v in target.request.headers],
                )
                warm = FanoutSpec(
                    **{**asdict(spec), "subscribers": WARMUP_SUBSCRIBERS, "events": WARMUP_EVENTS}
                )
                warmed, _, _ = await drive(warm, client_pin, server)
                measured = FanoutSpec(
                    **{**asdict(spec), "subscribers": self.subscribers, "events": self.events}
                )
                result, before, after = await drive(measured, client_pin, server)
                if not server.alive():
                    raise BenchError(f"{server.name} died:\n{server.log_tail()}")
            finally:
                await stop_server(server)
        problems = problems_of(f"{target.kind} warm-up", warmed)
        problems += problems_of(str(target.kind), result)
        kib = (after - before) / self.subscribers
        load = LoadResult(
            requests=result.deliveries,
            duration_s=result.duration_s,
            rps=result.deliveries / result.duration_s if result.duration_s else 0.0,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            unexpected_status=result.publish_errors,
            socket_errors=result.subscribers - result.connected + result.lost_streams,
            statuses={200: result.published},
        )
        extra = {
            "deliveries": float(result.deliveries),
            "expected_deliveries": float(result.expected),
            "kib_per_subscriber": kib,
            "server_rss_mib_before": before / 1024,
            "fanout_max_ms": result.fanout_max_ms,
            "connect_s": result.connect_s,
        }
        return Measurement(load, tuple(problems), extra)

    async def _start(self, target: Target, directory: Path, pin: tuple[str, ...]) -> Server:
        if target.app is None:
            return await start_baseline(directory, pin)
        redis = (
            os.environ.get("INTERNET10_TEST_REDIS_URL")
            if target.app.backend == "postgresql"
            else None
        )
        return await start_hypercorn(
            f"app-fanout-{self.subscribers}",
            APP_ASGI,
            env=app_env(target.app.database_url, redis),
            log_dir=directory,
            pin=pin,
            ready_path="/healthz",
        )


for _subscribers in (100, 1_000, 5_000):
    register(lambda m=_subscribers: LiveFanout(m))
