"""The ``internet10`` command under the loopback guard, for tests that run it as a process (the
suite's guard covers only the test process): ``python -m tests.guarded_cli ARGS...`` with the
repository on PYTHONPATH. Any attempt to leave loopback, even one the code caught, makes it
exit with status 97 and the attempts on stderr."""

from __future__ import annotations

import sys

from internet10.cli import main
from tests.netguard import LoopbackGuard

LEFT_LOOPBACK = 97


def run(argv: list[str]) -> int:
    guard = LoopbackGuard()
    guard.install()
    try:
        code = main(argv)
    finally:
        guard.uninstall()
    if guard.attempts:
        print("non-loopback network access: " + "; ".join(guard.attempts), file=sys.stderr)
        return LEFT_LOOPBACK
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
