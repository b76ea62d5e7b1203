"""The faulty front itself: each fault does what the fault suites rely on, and pass-through is faithful."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from tests.fakes.faulty import FaultyFront, wait_until

BODY = b"x" * 4000


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[tuple[str, str, bytes, str]] = []  # noqa: RUF012 - shared by the handler instances

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.received.append((self.command, self.path, body, self.headers.get("Host", "")))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def front() -> Iterator[FaultyFront]:
    _Upstream.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with FaultyFront(f"http://127.0.0.1:{server.server_address[1]}") as f:
            yield f
    finally:
        server.shutdown()
        server.server_close()


def test_pass_through_keeps_status_headers_body_and_host(front: FaultyFront) -> None:
    with requests.Session() as s:
        for _ in range(3):  # keep-alive: several requests on one connection
            r = s.post(front.url + "/up?x=1", data=b"payload", timeout=5)
            assert (r.status_code, r.headers["X-Upstream"], r.content) == (200, "yes", BODY)
    assert [(m, p, b) for m, p, b, _ in _Upstream.received] == [("POST", "/up?x=1", b"payload")] * 3
    assert _Upstream.received[0][3] == f"127.0.0.1:{front.port}"
    assert front.count(fault="pass") == 3


def test_status_n_times_then_pass_with_retry_after(front: FaultyFront) -> None:
    front.add("status", status=429, retry_after=2, times=1, path=r"^/simple/")
    front.add("status", status=503, times=1, method="GET")
    first = requests.get(front.url + "/simple/a/", timeout=5)
    second = requests.get(front.url + "/simple/a/", timeout=5)
    third = requests.get(front.url + "/simple/a/", timeout=5)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 503 and "Retry-After" not in second.headers
    assert third.content == BODY
    assert [f for _, _, f in front.log] == ["status", "status", "pass"]
    assert len(_Upstream.received) == 1  # injected answers never reach the upstream


def test_hang_before_headers_times_out_the_client(front: FaultyFront) -> None:
    front.add("hang_before_headers", method="GET")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(front.url + "/x", timeout=(2, 0.5))
    assert time.monotonic() - started < 2
    assert _Upstream.received == []


def test_hang_after_body_forwards_the_upload_but_withholds_the_answer(front: FaultyFront) -> None:
    front.add("hang_after_body", method="POST", forward=True)
    with pytest.raises(requests.ReadTimeout):
        requests.post(front.url + "/upload", data=b"file-bytes", timeout=(2, 1))
    assert [(m, p, b) for m, p, b, _ in _Upstream.received] == [("POST", "/upload", b"file-bytes")]


def test_hang_after_body_without_forward_loses_the_upload(front: FaultyFront) -> None:
    front.add("hang_after_body", method="POST", seconds=0.3)
    with pytest.raises(requests.ConnectionError):
        requests.post(front.url + "/upload", data=b"file-bytes", timeout=(2, 5))
    assert _Upstream.received == []


def test_reset_mid_body(front: FaultyFront) -> None:
    front.add("reset_mid_body")
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=5)
    conn.request("GET", "/big")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        resp.read()
    assert requests.get(front.url + "/big", timeout=5).content == BODY  # once only


def test_trickle_is_slow_but_whole(front: FaultyFront) -> None:
    front.add("trickle", bytes_per_second=8000)
    started = time.monotonic()
    assert requests.get(front.url + "/slow", timeout=5).content == BODY
    assert time.monotonic() - started >= 0.4


def test_close_ends_every_hang(front: FaultyFront) -> None:
    front.add("hang_before_headers", times=None)
    sock = socket.create_connection(("127.0.0.1", front.port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_until(lambda: front.count(fault="hang_before_headers") == 1)
    started = time.monotonic()
    front.close()
    assert sock.recv(10) == b""  # closed by the front, not left hanging
    assert time.monotonic() - started < 2


def test_unknown_fault_is_refused(front: FaultyFront) -> None:
    with pytest.raises(ValueError, match="unknown fault 'explode'"):
        front.add("explode")
