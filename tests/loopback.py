"""A fault-injecting HTTP server on 127.0.0.1 for tests and benchmarks (never the internet).

    server = Loopback({"/a.mp4": data}, faults={"/a.mp4": "429_then_ok"})
    with server as base:                      # "http://127.0.0.1:PORT"
        fetch(f"{base}/a.mp4")
    assert server.count("/a.mp4") == 2

Files are served from a dict {path: bytes} with a Content-Type from the extension, a
Content-Length, and single `Range: bytes=a-b` requests (206, or 416 when unsatisfiable); HEAD
is answered too; `rate` (bytes/s per connection) emulates a real link for benchmarks. Every
request is recorded per path (`hits`, `count`), so a test can assert how many attempts a client
made and whether it resumed with a Range.

A fault hits requests `after + 1 … after + times` of its path (1-based; `times=None`: all from
then on). Kinds (body faults cut the body the request asked for, a Range's included):
    403           403 Forbidden (an expired or IP-bound stream URL)
    404           404 Not Found
    429_then_ok   429 with `Retry-After: <retry_after>` (times defaults to 1)
    500_then_ok   500 (times defaults to 1)
    html          200 text/html: an HTML page instead of the file
    huge_length   200 with Content-Length 50 GB; sends 64 KiB, then closes
    reset_mid_body  sends half the body, then resets the connection (RST)
    truncated     Content-Length of the whole body, sends half, then closes cleanly
    stall         sends half the body, then goes silent for `stall_s` (ended by server exit)
    trickle       sends the body `trickle_bytes` at a time, `trickle_interval_s` apart
    endless_headers  200, then header lines one byte per `trickle_interval_s`, never the body
    redirect      302 to `redirect_to`
    no_length     no Content-Length: the body ends when the connection closes
"""

import contextlib
import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

FaultKind = Literal[
    "403",
    "404",
    "429_then_ok",
    "500_then_ok",
    "html",
    "huge_length",
    "reset_mid_body",
    "truncated",
    "stall",
    "trickle",
    "endless_headers",
    "redirect",
    "no_length",
]

HUGE_LENGTH = 50 * 1024**3
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sorry</title></head><body>Busy</body></html>"
CONTENT_TYPES = {
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "html": "text/html",
}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    times: int | None = None
    """How many requests it hits; None: 1 for the *_then_ok kinds, every request otherwise."""
    after: int = 0
    """Requests of the path served normally before the fault starts."""

    def hits(self, n: int) -> bool:
        """Whether the path's n-th request (1-based) gets this fault."""
        times = self.times
        if times is None and self.kind.endswith("_then_ok"):
            times = 1
        return n > self.after and (times is None or n <= self.after + times)


@dataclass(frozen=True)
class Hit:
    method: str
    range: str | None
    fault: FaultKind | None


class Loopback:
    """The server; `with` starts it on a free port and yields its base URL."""

    def __init__(
        self,
        files: dict[str, bytes],
        faults: dict[str, Fault | FaultKind] | None = None,
        *,
        retry_after: str = "1",
        stall_s: float = 30.0,
        trickle_bytes: int = 1024,
        trickle_interval_s: float = 0.05,
        rate: float | None = None,
        redirect_to: str = "",
    ):
        self.files = dict(files)
        self.faults = {
            p: f if isinstance(f, Fault) else Fault(f) for p, f in (faults or {}).items()
        }
        self.retry_after = retry_after
        self.stall_s = stall_s
        self.trickle_bytes, self.trickle_interval_s = trickle_bytes, trickle_interval_s
        self.rate = rate
        self.redirect_to = redirect_to
        self.hits: dict[str, list[Hit]] = defaultdict(list)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.base = ""

    def count(self, path: str, method: str | None = None) -> int:
        """Requests made for `path` so far (of one method, if given)."""
        with self._lock:
            return sum(1 for h in self.hits[path] if method in (None, h.method))

    def __enter__(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        return self.base

    def __exit__(self, *exc) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, path: str, method: str, range_: str | None) -> FaultKind | None:
        with self._lock:
            fault = self.faults.get(path)
            n = len(self.hits[path]) + 1
            kind = fault.kind if fault is not None and fault.hits(n) else None
            self.hits[path].append(Hit(method, range_, kind))
            return kind


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=a-b` range, clipped; None: the whole file.

    Raises ValueError when unsatisfiable.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_s, _, last_s = header[len("bytes=") :].partition("-")
    if not first_s:  # suffix range: the last N bytes
        n = int(last_s)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first >= size or first > last:
        raise ValueError(header)
    return first, last


def _handler_for(server: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one response per connection: simple, like test servers

        def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def finish(self):
            with contextlib.suppress(OSError):  # the socket was reset or closed on purpose
                super().finish()

        def _serve(self, body: bool) -> None:
            path = urlsplit(self.path).path
            kind = server._record(path, self.command, self.headers.get("Range"))
            data = server.files.get(path)
            try:
                if data is None or kind == "404":
                    self._status(404, b"not found")
                elif kind == "403":
                    self._status(403, b"forbidden")
                elif kind == "429_then_ok":
                    self._status(429, b"slow down", {"Retry-After": server.retry_after})
                elif kind == "500_then_ok":
                    self._status(500, b"oops")
                elif kind == "redirect":
                    self._status(302, b"moved", {"Location": server.redirect_to})
                elif kind == "endless_headers":
                    self._endless_headers()
                elif kind == "html":
                    self._status(200, HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})
                else:
                    self._file(path, data, kind, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up (yt-dlp's extractor reads headers only)

        def _endless_headers(self) -> None:
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            line = b"X-Padding: " + b"a" * 60 + b"\r\n"
            while True:
                for byte in line:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if server._closing.wait(server.trickle_interval_s):
                        return

        def _status(self, code: int, text: bytes, headers: dict[str, str] | None = None):
            self.send_response(code)
            headers = {"Content-Type": "text/plain", **(headers or {})}
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(text)

        def _file(self, path: str, data: bytes, kind: FaultKind | None, body: bool) -> None:
            try:
                span = _parse_range(self.headers.get("Range"), len(data))
            except ValueError:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = span or (0, len(data) - 1)
            chunk = memoryview(data)[first : last + 1]
            self.send_response(206 if span else 200)
            ext = path.rsplit(".", 1)[-1].lower()
            self.send_header("Content-Type", CONTENT_TYPES.get(ext, "application/octet-stream"))
            self.send_header("Accept-Ranges", "bytes")
            if span:
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            if kind != "no_length":
                length = HUGE_LENGTH if kind == "huge_length" else len(chunk)
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if not body:
                return
            if kind in (None, "no_length"):
                self._paced(chunk)
            elif kind == "huge_length":
                self.wfile.write(chunk[: 64 * 1024])
            elif kind == "trickle":
                for i in range(0, len(chunk), server.trickle_bytes):
                    self.wfile.write(chunk[i : i + server.trickle_bytes])
                    if server._closing.wait(server.trickle_interval_s):
                        return
            else:  # reset_mid_body, truncated, stall: half, then the fault
                self.wfile.write(chunk[: len(chunk) // 2])
                if kind == "stall":
                    server._closing.wait(server.stall_s)
                elif kind == "reset_mid_body":
                    linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
            self.close_connection = True

        def _paced(self, chunk: memoryview) -> None:
            """Write `chunk`, at most `server.rate` bytes/s on this connection if set."""
            if not server.rate:
                self.wfile.write(chunk)
                return
            start, step = time.monotonic(), 64 * 1024
            for i in range(0, len(chunk), step):
                self.wfile.write(chunk[i : i + step])
                ahead = start + (i + step) / server.rate - time.monotonic()
                if ahead > 0 and server._closing.wait(ahead):
                    return

    return Handler
