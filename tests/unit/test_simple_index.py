"""Generic-index existence check through the simple API: PEP 691 JSON, PEP 503 HTML, auth, outages."""

from __future__ import annotations

import dataclasses
import http.server
import itertools
import json
import logging
import re
import threading
import time

import pytest

from jenkins_codeartifact import indexhttp
from jenkins_codeartifact.errors import OperationError
from jenkins_codeartifact.index import Index

FILES = [
    "fantastic_ascii-1.0.0.tar.gz",
    "fantastic_ascii-1.0.0-py3-none-any.whl",
    "fantastic_ascii-1.1.0.tar.gz",
    "other_pkg-1.0.0.tar.gz",
]


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "json"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("Authorization") is None and self.server.require_auth:
            self.send_response(401)
            self.end_headers()
            return
        if self.path != "/simple/fantastic-ascii/":
            self.send_response(404)
            self.end_headers()
            return
        if self.server.mode == "json":
            body = json.dumps(
                {
                    "meta": {"api-version": "1.0"},
                    "name": "fantastic-ascii",
                    "files": [{"filename": f, "url": f"../../f/{f}", "hashes": {}} for f in FILES],
                }
            )
            ctype = "application/vnd.pypi.simple.v1+json"
        else:
            body = (
                "<html><body>" + "".join(f'<a href="../../f/{f}#sha256=00">{f}</a>' for f in FILES) + "</body></html>"
            )
            ctype = "text/html"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(params=["json", "html"])
def server(request):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.mode, srv.require_auth = request.param, False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def index_for(srv, password=None):
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    return Index(
        upload_url=url,
        simple_url=url + "simple/",
        username="u" if password else None,
        password=password,
        description=url,
    )


def test_existing_version_lists_only_its_files(server):
    assert index_for(server).version_files("Fantastic.ASCII", "1.0.0") == set(FILES[:2])
    assert index_for(server).version_files("fantastic-ascii", "1.1") == {"fantastic_ascii-1.1.0.tar.gz"}


def test_absent_version_and_absent_project(server):
    assert index_for(server).version_files("fantastic-ascii", "2.0.0") is None
    assert index_for(server).version_files("nothing-here", "1.0.0") is None


def test_refused_credentials_are_a_clear_error(server):
    server.require_auth = True
    with pytest.raises(OperationError, match=r"refused the credentials \(HTTP 401\)"):
        index_for(server).version_files("fantastic-ascii", "1.0.0")


def test_index_down(monkeypatch):
    monkeypatch.setattr(indexhttp, "POLICY", dataclasses.replace(indexhttp.POLICY, backoff=0.01))
    index = Index(upload_url="http://127.0.0.1:9/", simple_url="http://127.0.0.1:9/simple/", description="x")
    with pytest.raises(OperationError, match="unreachable"):
        index.version_files("fantastic-ascii", "1.0.0")


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers the scripted statuses (with Retry-After when given), then the JSON page."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.times.append(time.monotonic())
        if self.server.script:
            status, retry_after = self.server.script.pop(0)
            if status == "hang":
                time.sleep(3)
                return
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(
            {"files": [{"filename": FILES[0], "url": FILES[0], "hashes": {"sha256": "AB" * 32}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def flaky(monkeypatch):
    monkeypatch.setattr(indexhttp, "POLICY", dataclasses.replace(indexhttp.POLICY, backoff=0.05))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    srv.daemon_threads = True
    srv.script, srv.times = [], []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_5xx_are_retried_with_growing_waits_one_log_line_each(flaky, caplog):
    flaky.script = [(503, None), (500, None), (502, None)]
    with caplog.at_level(logging.INFO, "jenkins_codeartifact"):
        assert index_for(flaky).simple_files("fantastic-ascii", "1.0.0") == {FILES[0]: "ab" * 32}
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert [re.search(r"HTTP (\d+); retry (\d) of 4", m).groups() for m in retries] == [
        ("503", "1"),
        ("500", "2"),
        ("502", "3"),
    ]
    gaps = [b - a for a, b in itertools.pairwise(flaky.times)]
    assert gaps[0] >= 0.025 and gaps[0] < gaps[2]  # exponential: 50-100 % of 0.05 s, then of 0.2 s


def test_429_honours_retry_after(flaky, caplog):
    flaky.script = [(429, 1)]
    with caplog.at_level(logging.INFO, "jenkins_codeartifact"):
        assert index_for(flaky).version_files("fantastic-ascii", "1.0.0") == {FILES[0]}
    assert flaky.times[1] - flaky.times[0] >= 0.95
    assert any("HTTP 429; retry 1 of 4 in 1.0s (Retry-After)" in r.getMessage() for r in caplog.records)


def test_persistent_5xx_is_index_unreachable_after_bounded_retries(flaky):
    flaky.script = [(503, None)] * 10
    with pytest.raises(OperationError, match=r"^index unreachable: .* answered HTTP 503"):
        index_for(flaky).version_files("fantastic-ascii", "1.0.0")
    assert len(flaky.times) == indexhttp.POLICY.retries + 1


def test_an_index_that_never_answers_times_out_in_bounded_time(flaky, monkeypatch):
    monkeypatch.setattr(indexhttp, "POLICY", dataclasses.replace(indexhttp.POLICY, read=0.3, retries=1))
    flaky.script = [("hang", None)] * 2
    started = time.monotonic()
    with pytest.raises(OperationError, match=r"index unreachable: .*: no answer \(read timed out\)"):
        index_for(flaky).version_files("fantastic-ascii", "1.0.0")
    assert time.monotonic() - started < 2.0 and len(flaky.times) == 2


def test_html_pages_give_their_sha256_fragments(server):
    server.mode = "html"
    assert index_for(server).simple_files("fantastic-ascii", "1.0.0") == {f: "00" for f in FILES[:2]}
