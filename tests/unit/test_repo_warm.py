"""The upstream import delay: the stand-in's switchable 404-then-200, and warm() riding it out with HEADs.

Source: ray-project/ray PR#65567 (CodeArtifact lists a file from its pypi-store upstream before the
import finished; the first download answers 404, a later one 200; 2-3% of fresh pins).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from tests.unit.test_sandbox_api import WHERE, client
from tests.unit.test_standin_repo import Store, serving

from jenkins_codeartifact.errors import OperationError
from jenkins_codeartifact.repo.warm import warm

UPSTREAM = "/root/pypi/+f/0ab/cdef/numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
OWN = "/aws/dev/+f/123/4567/acme_lib-1.0-py3-none-any.whl"
NEVER = "/root/pypi/+f/fff/ffff/never-1.0.tar.gz"


class Files(BaseHTTPRequestHandler):
    """devpi's file store: every file is there, but NEVER."""

    def do_HEAD(self) -> None:
        self.send_response(404 if self.path == NEVER else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def standin() -> Iterator[Any]:
    files = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        with serving(Store(), devpi_url=f"http://127.0.0.1:{files.server_address[1]}", upstream_delay=True) as s:
            session = requests.Session()
            session.auth = ("aws", client(s.url).get_authorization_token(**WHERE)["authorizationToken"])  # type: ignore[attr-defined]
            yield s, session
    finally:
        files.shutdown()
        files.server_close()


def test_the_first_fetch_of_an_upstream_file_is_a_404_then_200(standin: Any) -> None:
    server, session = standin
    assert [session.head(server.url + UPSTREAM, timeout=5).status_code for _ in range(2)] == [404, 200]
    assert session.head(server.url + OWN, timeout=5).status_code == 200  # the repository's own files: no delay


def test_warm_turns_the_late_file_into_one_warning(standin: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, session = standin
    caplog.set_level(logging.WARNING, logger="jenkins_codeartifact")
    done = warm(session, [server.url + UPSTREAM, server.url + OWN], sleep=lambda s: None)
    assert [(w.first, w.status) for w in done] == [(404, 200), (200, 200)]
    assert [r.getMessage() for r in caplog.records] == [
        "WARNING: numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl was still being imported from the upstream "
        "(404, then 200 after 2 tries)"
    ]


def test_a_file_that_never_arrives_fails_at_the_deadline(standin: Any) -> None:
    server, session = standin
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OperationError) as err:
        warm(session, [server.url + NEVER], deadline=10.0, sleep=sleep, clock=lambda: now[0])
    assert err.value.message.startswith("warming never-1.0.tar.gz: HTTP 404 after ")
    assert now[0] <= 10.0
