"""A guard that lets tests talk to loopback only; tests/conftest.py installs it for every test.

While installed, ``socket.socket.connect`` / ``connect_ex`` / ``sendto`` to an address outside
loopback, and ``getaddrinfo`` / ``gethostbyname`` of any name but ``localhost`` (a lookup
already leaves the machine), raise ``NonLoopbackConnection`` before anything is sent. The
patches are on the classes and the module, so they hold in every thread (``asyncio.to_thread``
workers, executors), for asyncio, aiohttp, httplib2 and requests alike (asyncpg, redis and
aiosmtplib use Python sockets too); a C extension opening its own sockets would not be covered.

A library may catch the exception and carry on (``except Exception``), so every attempt is also
recorded in ``attempts``; ``verify`` fails if there was any, and the fixture calls it at
teardown: a swallowed attempt still fails the test."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_ALLOWED_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class NonLoopbackConnection(AssertionError):
    """Not an ``OSError`` on purpose: HTTP clients treat those as "network down" and retry or
    map them, which would hide the attempt."""


def _is_loopback_host(host: object, *, for_lookup: bool) -> bool:
    if host is None or host == "" or host == b"":
        return for_lookup  # getaddrinfo(None, port): a passive (bind) address
    name = host.decode() if isinstance(host, bytes) else str(host)
    name = name.split("%", 1)[0]  # IPv6 scope id
    if name.lower() in _ALLOWED_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name to resolve: DNS is the network
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # binding to the unspecified address needs a lookup of it, and only binds
    return address.is_loopback or (for_lookup and address.is_unspecified)


class LoopbackGuard:
    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def _refuse(self, what: str) -> NonLoopbackConnection:
        with self._lock:
            self.attempts.append(what)
        return NonLoopbackConnection(f"non-loopback network access in a test: {what}")

    def _check_address(self, sock: socket.socket, address: Any, call: str) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return  # Unix sockets, netlink...: local by nature
        host = address[0] if isinstance(address, tuple) and address else address
        if not _is_loopback_host(host, for_lookup=False):
            raise self._refuse(f"{call} to {address!r}")

    def install(self) -> None:
        if self._saved:
            raise RuntimeError("LoopbackGuard is already installed")
        guard = self
        real = self._saved = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "sendto": socket.socket.sendto,
            "getaddrinfo": socket.getaddrinfo,
            "gethostbyname": socket.gethostbyname,
        }

        def connect(sock: socket.socket, address: Any) -> None:
            guard._check_address(sock, address, "connect")
            real["connect"](sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard._check_address(sock, address, "connect_ex")
            result: int = real["connect_ex"](sock, address)
            return result

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            guard._check_address(sock, args[-1], "sendto")
            result: int = real["sendto"](sock, data, *args)
            return result

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not _is_loopback_host(host, for_lookup=True):
                raise guard._refuse(f"getaddrinfo({host!r})")
            return real["getaddrinfo"](host, *args, **kwargs)

        def gethostbyname(host: str) -> str:
            if not _is_loopback_host(host, for_lookup=True):
                raise guard._refuse(f"gethostbyname({host!r})")
            result: str = real["gethostbyname"](host)
            return result

        # replacing methods is the guard's whole point; the stubs' address types are narrower
        socket.socket.connect = connect  # type: ignore[assignment,method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[assignment,method-assign]
        socket.socket.sendto = sendto  # type: ignore[assignment,method-assign]
        socket.getaddrinfo = getaddrinfo
        socket.gethostbyname = gethostbyname

    def uninstall(self) -> None:
        real, self._saved = self._saved, {}
        if not real:
            return
        socket.socket.connect = real["connect"]  # type: ignore[method-assign]  # putting back
        socket.socket.connect_ex = real["connect_ex"]  # type: ignore[method-assign]
        socket.socket.sendto = real["sendto"]  # type: ignore[method-assign]
        socket.getaddrinfo = real["getaddrinfo"]
        socket.gethostbyname = real["gethostbyname"]

    def verify(self) -> None:
        """Raise if anything tried to leave loopback, even if the error was swallowed."""
        if self.attempts:
            raise NonLoopbackConnection(
                "non-loopback network access in a test: " + "; ".join(self.attempts)
            )


@contextmanager
def loopback_only() -> Iterator[LoopbackGuard]:
    """Install a guard for the block, then verify nothing tried to leave loopback."""
    guard = LoopbackGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
    guard.verify()
