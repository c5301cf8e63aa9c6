"""Password hashing: the service keeps argon2's full cost; the suite lowers it (conftest)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from internet10 import security

pytestmark = pytest.mark.unit


def test_the_service_hashes_passwords_at_full_cost() -> None:
    # A fresh interpreter, as `internet10 serve` starts: nothing has lowered the cost there.
    made = subprocess.run(
        [sys.executable, "-c", "from internet10.security import hash_password as h; print(h('x'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    # A full-cost hash still checks under the suite's cheap hasher (a hash names its parameters).
    assert security.verify_password(made, "x")
    assert not security.verify_password(made, "y")


def test_the_suite_hashes_cheaply_and_checks_alike() -> None:
    made = security.hash_password("correct horse")
    assert made.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert security.verify_password(made, "correct horse")
    assert not security.verify_password(made, "wrong horse")
    assert not security.verify_password(None, "anything")
