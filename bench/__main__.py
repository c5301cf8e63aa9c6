"""``python -m bench``: measure the app against a raw ASGI baseline on the same Hypercorn.

Exit status: 0 when every request of every run got its expected status, 1 when any did not or
the benchmark could not run, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import fanout, scaleout, scaleout_fanout  # noqa: F401 - they register their workloads
from bench.report import extras, machine, table, to_json, write_json
from bench.runner import Options, Outcome, run
from bench.servers import BenchError
from bench.workloads import WORKLOADS, RunSettings


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure Internet10 against a raw ASGI app served by the same Hypercorn "
        "command; report medians of interleaved runs and the app/baseline ratios.",
    )
    parser.add_argument(
        "--duration", type=_positive_float, default=10.0, help="seconds per run (10)"
    )
    parser.add_argument(
        "--connections", type=_positive_int, default=64, help="keep-alive connections (64)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(WORKLOADS),
        metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(sorted(WORKLOADS))}",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--runs", type=_positive_int, default=3, help="runs per target (3)")
    parser.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=2.0,
        help="warm-up seconds before each run (2)",
    )
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "aiohttp"),
        default="auto",
        help="load client: wrk when on PATH, else our aiohttp client (auto)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("INTERNET10_TEST_POSTGRES_URL") or None,
        help="also run database workloads on PostgreSQL (default: $INTERNET10_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("INTERNET10_TEST_REDIS_URL") or None,
        help="Redis for the PostgreSQL app (default: $INTERNET10_TEST_REDIS_URL)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client CPUs")
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep server logs in DIR")
    return parser


async def _run_until_signalled(options: Options) -> Outcome:
    """Run; SIGTERM cancels the run the way Ctrl-C does, so the servers are still stopped."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(options)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    names = list(dict.fromkeys(args.only)) if args.only else sorted(WORKLOADS)
    options = Options(
        settings=RunSettings(
            duration_s=args.duration,
            connections=args.connections,
            warmup_s=args.warmup,
            runs=args.runs,
        ),
        workloads=[WORKLOADS[name]() for name in names],
        client=args.client,
        pin=not args.no_pin,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        keep_logs=args.logs,
    )
    command = shlex.join(["python", "-m", "bench", *args_list])
    info = machine()
    print(
        f"{command}\n{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
        f"Hypercorn {info['hypercorn']}, Quart {info['quart']}; "
        f"load average {info['load_average']}"
    )
    try:
        outcome = asyncio.run(_run_until_signalled(options))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted", file=sys.stderr)
        return 1
    s = options.settings
    print(
        f"\nMedians of {s.runs} interleaved runs per target; {s.duration_s:g} s each after "
        f"{s.warmup_s:g} s warm-up; {s.connections} connections; client {outcome.client}; "
        f"{outcome.pinning.description}.\nspread = (max - min) / median of the runs' req/s.\n"
    )
    print(table(outcome))
    extra = extras(outcome.results)
    if extra:
        print(f"\n{extra}")
    if args.json:
        write_json(args.json, to_json(outcome, options, command, info))
        print(f"\nwrote {args.json}")
    if outcome.problems:
        print("\nFAILED:", file=sys.stderr)
        for problem in outcome.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
