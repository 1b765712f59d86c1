"""netguard: a wall clock and an address policy for every socket one network call opens.

    guard = NetGuard(wall_clock_s=900, allow_private=False, what="download")
    try:
        with guard:                  # may be entered again (one entry per attempt)
            ydl.extract_info(url)    # or requests, urllib: any library that connects a socket
    finally:
        guard.close()
    guard.raise_if_tripped()     # GuardTripped(status, message) when the clock ran out / refused

Why: a socket timeout bounds one `recv`, not a download. A server sending 1 byte/s, headers
that never end, or a read stalled mid-block keeps yt-dlp or requests busy for as long as it
likes (yt-dlp reads 1,024-byte blocks; its progress hook runs only between them). So every
socket the calling thread connects inside the guard is recorded (Python's `socket.connect`
audit event, which every HTTP library here goes through, redirects included) as a duplicate
file descriptor, and when the wall clock runs out a timer thread shuts the connections down:
the blocked read returns at once, whatever the server does. A connect after that is refused.
Slack: DNS resolution and a `connect()` already in progress are not interrupted (both are
bounded by the socket timeout), so a call ends within the wall clock plus at most one
socket timeout, and in practice within milliseconds of it.

The same hook enforces the address policy: unless `allow_private`, a connection to an address
that is not globally routable (loopback, private, link-local such as the cloud metadata server
169.254.169.254, shared, reserved, multicast) is refused before it is made, including after a
redirect; `allowed_hosts` names hosts that may be private anyway (a configured proxy).
Connections reused from a pool were opened earlier, outside the guard: callers drop their
pools before a guarded call (`stages.acquire.ytdlp.handle`, `requests.Session.close`).
"""

import contextlib
import ipaddress
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from schemas.status import Status, StatusError

T = TypeVar("T")
_scope = threading.local()
_install_lock = threading.Lock()
_installed = False


class GuardTripped(StatusError):
    """The guard ended a call: NETWORK_TIMEOUT (the wall clock) or PRIVATE_HOST (refused)."""


class RefusedConnection(ConnectionRefusedError):
    """Raised inside the HTTP library by the audit hook: it sees a refused connection."""


def _audit(event: str, args: tuple) -> None:
    if event != "socket.connect":
        return
    guard = getattr(_scope, "guard", None)
    if guard is not None:
        guard._on_connect(args[0], args[1])


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)  # process-wide and permanent; a no-op outside a guard
            _installed = True


def is_public_address(address: str) -> bool:
    """Whether `address` (an IP literal) is globally routable; IPv4-mapped IPv6 by its IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int | None = None) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})


def check_url(url: str, allow_private: bool, allowed_hosts: frozenset[str] = frozenset()) -> None:
    """Raise GuardTripped(PRIVATE_HOST) if `url`'s host resolves to a non-public address (no
    request is made). Unresolvable hosts pass: the request itself will fail and say so."""
    if allow_private:
        return
    host = urlsplit(url).hostname
    if not host or host in allowed_hosts:
        return
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):
        return
    private = [a for a in addresses if not is_public_address(a)]
    if private:
        raise GuardTripped(Status.PRIVATE_HOST, _refusal(host, private[0]))


def _refusal(host: str, address: str) -> str:
    name = host if host == address else f"{host} ({address})"
    return (
        f"refused: {name} is a private, loopback, link-local or metadata address "
        "(pass --allow_private_hosts to fetch from your own network)"
    )


class NetGuard:
    """See the module docstring. Not shared between threads: one guard per call."""

    def __init__(
        self,
        wall_clock_s: float | None,
        *,
        allow_private: bool = True,
        allowed_hosts: frozenset[str] = frozenset(),
        what: str = "request",
    ):
        _install()
        self.wall_clock_s, self.allow_private, self.what = wall_clock_s, allow_private, what
        self._allowed = {a for h in allowed_hosts for a in _quiet_resolve(h)}
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._previous = None
        self.started: float | None = None
        self.expired = False
        self.refused: str | None = None

    # --- the calling thread ----------------------------------------------------------------------
    def __enter__(self) -> "NetGuard":
        if self.started is None:
            self.started = time.monotonic()
            if self.wall_clock_s is not None:
                self._timer = threading.Timer(self.wall_clock_s, self._expire)
                self._timer.daemon = True
                self._timer.start()
        self._previous = getattr(_scope, "guard", None)
        _scope.guard = self
        return self

    def __exit__(self, *exc) -> None:
        _scope.guard = self._previous  # connections stay covered until close(): pools reuse them

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._close_socks()

    @property
    def tripped(self) -> bool:
        return self.expired or self.refused is not None

    def error(self) -> GuardTripped | None:
        if self.refused is not None:
            return GuardTripped(Status.PRIVATE_HOST, self.refused)
        if self.expired:
            message = f"{self.what} passed the {self.wall_clock_s:g} s wall clock"
            return GuardTripped(Status.NETWORK_TIMEOUT, message)
        return None

    def raise_if_tripped(self) -> None:
        if (error := self.error()) is not None:
            raise error

    def run(self, fn: Callable[[], T], error: type[StatusError]) -> T:
        """`fn()` inside the guard. Once the guard tripped, whatever `fn` raised, or returned (a
        body cut short by the shutdown may look complete), becomes `error(status, message)`."""
        with self:
            try:
                result = fn()
            except Exception as exc:
                if (tripped := self.error()) is not None:
                    raise error(tripped.status, tripped.message) from exc
                raise
        if (tripped := self.error()) is not None:
            raise error(tripped.status, tripped.message)
        return result

    # --- the audit hook (calling thread) and the timer thread ------------------------------------
    def _on_connect(self, sock: socket.socket, address) -> None:
        host = address[0] if isinstance(address, tuple) and address else None
        if isinstance(host, str) and not self.allow_private:
            for ip in _quiet_resolve(host):
                if ip not in self._allowed and not is_public_address(ip):
                    self.refused = _refusal(host, ip)
                    raise RefusedConnection(self.refused)
        with self._lock:
            if self.expired:
                raise RefusedConnection(f"{self.what}: the wall clock ran out")
            if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.fileno() >= 0:
                # A duplicate keeps the same connection reachable after TLS wrapping detaches
                # `sock`, and cannot be reused for another connection while we hold it.
                self._socks.append(socket.socket(fileno=os.dup(sock.fileno())))

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for s in self._socks:
                with contextlib.suppress(OSError):  # not connected yet, or already closed
                    s.shutdown(socket.SHUT_RDWR)

    def _close_socks(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            s.close()


def _quiet_resolve(host: str) -> list[str]:
    try:
        return resolve(host)
    except (OSError, UnicodeError, ValueError):
        return []


def current() -> NetGuard | None:
    """The guard the calling thread is inside, if any (retry classifiers: no retry once it
    tripped)."""
    return getattr(_scope, "guard", None)


def tripped_here() -> bool:
    guard = current()
    return guard is not None and guard.tripped
