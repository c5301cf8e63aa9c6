"""Secrets: random tokens (stored as SHA-256 hashes) and argon2 password hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class _Passwords:
    # argon2-cffi's defaults (RFC 9106's low-memory profile: 3 passes over 64 MiB): about 0.2 s
    # of one core per hash or check, on purpose.
    hasher = PasswordHasher()


TOKEN_BYTES = 32  # 256 bits, above the 128-bit floor for personal links and API tokens


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Tokens are high-entropy, so a fast hash suffices (no salt needed against guessing)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def lower_password_cost_for_tests() -> None:
    """Make new password hashes cheap (1 pass over 8 KiB): for test suites only, where thousands
    of accounts are made and signed in to and 0.2 s each adds minutes. A hash records its own
    parameters, so checking still works for hashes made either way."""
    _Passwords.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def hash_password(password: str) -> str:
    return _Passwords.hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check so unknown accounts are not revealed by timing.
        _Passwords.hasher.hash(password)
        return False
    try:
        return _Passwords.hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
