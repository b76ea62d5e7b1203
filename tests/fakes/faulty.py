"""A scriptable faulty HTTP front: a reverse proxy on a loopback port that misbehaves on demand.

Real fleets misbehave in a handful of ways that a client must survive: a server that never answers
(before the headers, or after swallowing an upload), throttling with ``Retry-After``, 5xx bursts, a
connection reset in the middle of a body, and a slow trickle. :class:`FaultyFront` sits in front of a real
stand-in (devpi, the CodeArtifact stand-in, the registry, the fake Jenkins) and injects exactly those,
so tests can assert what the user sees: exit code, time bound, message, and that nothing was lost.

    with FaultyFront("http://127.0.0.1:3141") as front:
        front.add("status", status=503, times=2, method="GET", path=r"/simple/")  # then pass-through
        front.add("hang_after_body", method="POST", forward=True)  # the upload lands, the answer never comes
        ...  # point the client at front.url
        assert ("POST", "/root/dev/", "hang_after_body") in front.log

Faults are matched in the order added, by method and path regex; ``times=None`` applies to every match.
The ``Host`` header is passed through unchanged (like a proxy that preserves it), so absolute URLs the
upstream builds point back at the front. Hangs last until the front is closed, or ``seconds``.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "hang_before_headers", "hang_after_body", "reset_mid_body", "trickle")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int = 503
    retry_after: float | None = None
    seconds: float | None = None
    forward: bool = False
    bytes_per_second: int = 200
    body: bytes = b""
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path and not re.search(self.path, path))


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class FaultyFront:
    """A threaded reverse proxy in front of ``upstream`` (``http://host:port``) with injectable faults."""

    upstream: str
    upstream_timeout: float = 60.0
    log: list[tuple[str, str, str]] = field(default_factory=list)
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: threading.Event = field(default_factory=threading.Event)
    _conns: set[socket.socket] = field(default_factory=set)

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.upstream)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        front = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                front._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128  # socketserver's 5 makes parallel clients wait 1 s for a SYN resend

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="faulty-front", daemon=True
        )

    # -- control ---------------------------------------------------------------------------------------
    def __enter__(self) -> FaultyFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and end every hang; open connections are closed."""
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in list(self._conns):
                _quiet_close(conn)

    def add(self, kind: str, **options: Any) -> Fault:
        """Script a fault (see the module docstring); returns it so tests can read ``used``."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(KINDS)}")
        fault = Fault(kind, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None = None, path: str | None = None, fault: str | None = None) -> int:
        """How many requests matched (``fault="pass"`` for the ones forwarded untouched)."""
        return sum(
            1
            for m, p, f in list(self.log)
            if (method is None or m == method) and (path is None or re.search(path, p)) and (fault in (None, f))
        )

    # -- serving ---------------------------------------------------------------------------------------
    def _pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.used += 1
                    return fault
        return None

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
        reader = conn.makefile("rb")
        try:
            while not self._closed.is_set():
                head = _read_head(reader)
                if head is None:
                    return
                fault = self._pick(head.method, head.target)
                name = fault.kind if fault else "pass"
                self.log.append((head.method, head.target, name))
                if fault and fault.kind == "hang_before_headers":
                    self._closed.wait(fault.seconds)
                    return
                head.body = _read_body(reader, head)
                if fault and fault.kind == "status":
                    _send(conn, fault.status, _status_headers(fault), fault.body or b"injected fault\n")
                    continue
                if fault and fault.kind == "hang_after_body":
                    if fault.forward:
                        self._forward(head)
                    self._closed.wait(fault.seconds)
                    return
                status, headers, body = self._forward(head)
                if fault and fault.kind == "reset_mid_body":
                    _send_head(conn, status, headers, len(body))
                    conn.sendall(body[: max(1, len(body) // 2)])
                    _reset(conn)
                    return
                if fault and fault.kind == "trickle":
                    _send_head(conn, status, headers, len(body))
                    for i in range(0, len(body), max(1, fault.bytes_per_second // 10)):
                        if self._closed.wait(0.1):
                            return
                        conn.sendall(body[i : i + max(1, fault.bytes_per_second // 10)])
                    continue
                _send(conn, status, headers, body)
                if (head.header("Connection") or "").lower() == "close":
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            _quiet_close(conn)

    def _forward(self, req: _Request) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(self._host, self._port, timeout=self.upstream_timeout)
        try:
            upstream.putrequest(req.method, req.target, skip_host=True, skip_accept_encoding=True)
            for key, value in req.headers:
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    upstream.putheader(key, value)
            if req.body or req.method in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(req.body)))
            upstream.endheaders(req.body or None)
            resp = upstream.getresponse()
            body = resp.read()
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            return resp.status, headers, body
        except OSError:
            return 502, [("Content-Type", "text/plain")], b"faulty front: upstream unreachable\n"
        finally:
            upstream.close()


def _status_headers(fault: Fault) -> list[tuple[str, str]]:
    headers = [("Content-Type", "text/plain")]
    if fault.retry_after is not None:
        headers.append(("Retry-After", f"{fault.retry_after:g}"))
    return headers


def _read_head(reader: Any) -> _Request | None:
    line = reader.readline(65537)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between keep-alive requests
        line = reader.readline(65537)
    if not line:
        return None
    method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = reader.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        key, _, value = raw.decode("latin-1").partition(":")
        headers.append((key.strip(), value.strip()))
    return _Request(method, target, version, headers)


def _read_body(reader: Any, req: _Request) -> bytes:
    if (req.header("Transfer-Encoding") or "").lower() == "chunked":
        chunks = []
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(reader.read(size))
            reader.readline()
    length = int(req.header("Content-Length") or 0)
    return reader.read(length) if length else b""


def _send_head(conn: socket.socket, status: int, headers: list[tuple[str, str]], length: int) -> None:
    reason = http.client.responses.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {length}"]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _send(conn: socket.socket, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    _send_head(conn, status, headers, len(body))
    conn.sendall(body)


def _reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees ECONNRESET, as from a crashed proxy."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _quiet_close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; for tests that wait on the front's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
