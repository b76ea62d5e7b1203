"""The smoke test against real HTTP servers on 127.0.0.1 (the container faked, its port real): which answers
end it at once, which are retried, what the error, the TIP and the report say."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from tests.unit.test_containers import FakeEngine, FakeHandle

from jenkins_codeartifact.consume import containers, smoke
from jenkins_codeartifact.consume import pipeline as consume
from jenkins_codeartifact.errors import OperationError
from jenkins_codeartifact.settings import Settings

Answer = Callable[[int], tuple[int, dict[str, str], bytes]]  # n-th request -> status, headers, body


def serve(answer: Answer, host: str = "127.0.0.1") -> tuple[http.server.ThreadingHTTPServer, list[str]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            status, headers, body = answer(len(seen))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def app(monkeypatch) -> Iterator[Callable[..., list[str]]]:
    """``app(answer)``: the "container" the smoke test starts listens where ``answer`` is served."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Answer, host: str = "127.0.0.1") -> list[str]:
        server, seen = serve(answer, host)
        servers.append(server)
        monkeypatch.setattr(containers, "free_port", lambda: server.server_address[1])
        return seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def always(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Answer:
    return lambda n: (status, headers or {}, body)


def run(timeout: float = 30.0, path: str = "/healthz") -> tuple[containers.SmokeResult | OperationError, float]:
    started = time.monotonic()
    try:
        result: containers.SmokeResult | OperationError = containers.smoke_test(
            FakeEngine(), "application:1", path=path, timeout=timeout
        )
    except containers.SmokeFailed as exc:
        result = exc
    return result, time.monotonic() - started


def test_a_404_fails_at_once_naming_status_and_path(app):
    seen = app(always(404, body=b"<h1>Not Found</h1>"))
    error, seconds = run(timeout=30)
    assert isinstance(error, containers.SmokeFailed)
    assert seconds < 5 and seen == ["/healthz"]  # one GET, not 30 s of them
    assert "smoke test of application:1 failed: HTTP 404" in error.message and "(GET /healthz)" in error.message
    assert "does not serve /healthz" in (error.hint or "") and "--smoke-path" in (error.hint or "")
    assert error.result.outcome == "client error"
    assert error.result.answer == "HTTP 404 Not Found: <h1>Not Found</h1>"


def test_a_500_is_retried_while_the_app_warms_up(app):
    seen = app(lambda n: (500, {}, b"warming up") if n < 3 else (200, {}, b"ok"))
    result, _ = run(timeout=30)
    assert isinstance(result, containers.SmokeResult)
    assert (result.status, result.path, result.outcome) == (200, "/healthz", "passed")
    assert len(seen) == 3


def test_a_500_until_the_deadline_says_so_and_points_at_the_log(app, caplog):
    app(always(500, body=b"Internal Server Error"))
    error, seconds = run(timeout=1.5)
    assert isinstance(error, containers.SmokeFailed)
    assert 1.5 <= seconds < 5
    assert "HTTP 500 until the deadline" in error.message
    assert "failed on /healthz until the deadline: its log above" in (error.hint or "")
    assert "must serve HTTP on $PORT" not in (error.hint or "")
    assert "container logs of application:1" in caplog.text
    assert error.result.answer == "HTTP 500 Internal Server Error: Internal Server Error"


def test_a_redirect_is_reported_not_followed(app):
    seen = app(lambda n: (302, {"Location": "/login"}, b"") if n == 1 else (200, {}, b"login page"))
    error, seconds = run(timeout=30, path="/")
    assert isinstance(error, containers.SmokeFailed)
    assert seen == ["/"] and seconds < 5
    assert "HTTP 302 to /login" in error.message
    assert "/ redirects to /login" in (error.hint or "")
    assert error.result.outcome == "redirect"


def test_a_proxy_in_the_environment_is_not_used_for_loopback(app, monkeypatch):
    app(always(200, body=b"ok"))
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens, a GET through it fails "no answer"
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result, _ = run(timeout=5)
    assert isinstance(result, containers.SmokeResult) and result.status == 200


def test_nothing_listening_names_host_and_port(monkeypatch):
    port = containers.free_port()
    monkeypatch.setattr(containers, "free_port", lambda: port)
    error, _ = run(timeout=1)
    assert isinstance(error, containers.SmokeFailed)
    assert "no answer until the deadline" in error.message
    assert f"must listen on $HOST:$PORT (here 127.0.0.1:{port})" in (error.hint or "")
    assert error.result.outcome == "no answer"
    assert "connection refused" in error.result.answer


def test_a_container_that_exits_says_so_with_its_code_and_log(monkeypatch, caplog):
    port = containers.free_port()
    monkeypatch.setattr(containers, "free_port", lambda: port)

    def died(self):
        self.status, self.attrs = "exited", {"State": {"Running": False, "ExitCode": 3}}

    monkeypatch.setattr(FakeHandle, "reload", died)
    monkeypatch.setattr(FakeHandle, "logs", lambda self, tail=200: b"ModuleNotFoundError: No module named 'flask'\n")
    error, seconds = run(timeout=30)
    assert isinstance(error, containers.SmokeFailed)
    assert seconds < 5
    assert "the container exited after" in error.message
    assert "exited with code 3" in (error.hint or "")
    assert (error.hint or "").endswith("; its last line: ModuleNotFoundError: No module named 'flask'")
    assert "| ModuleNotFoundError: No module named 'flask'" in caplog.text
    assert error.result.outcome == "exited"


def test_an_app_ignoring_host_is_reported(app, caplog):
    seen = app(always(200), host="0.0.0.0")  # what an app that ignores $HOST does
    address = smoke.reachable_beyond_loopback(int(containers.free_port()))
    if address is None:
        pytest.skip("this agent has no address beyond loopback")
    result, _ = run(timeout=5)
    assert isinstance(result, containers.SmokeResult)
    assert result.listens_beyond_loopback == address
    assert "ignores $HOST=127.0.0.1" in caplog.text
    assert seen


def test_an_app_honouring_host_is_not_reported(app, caplog):
    app(always(200))
    result, _ = run(timeout=5)
    assert isinstance(result, containers.SmokeResult)
    assert result.listens_beyond_loopback is None
    assert "ignores $HOST" not in caplog.text


def test_the_report_has_the_smoke_test_also_on_failure(app, tmp_path):
    app(always(404))
    stages = consume.Stages(
        Settings(context=str(tmp_path), image_name="application", tag="1", smoke_timeout=30),
        docker_factory=lambda: PingingEngine(),
    )
    with pytest.raises(containers.SmokeFailed):
        stages.run("smoke-test")
    entry = json.loads(json.dumps(stages.record))["smoke_test"]
    assert entry["status"] == 404 and entry["path"] == "/healthz" and entry["outcome"] == "client error"
    assert entry["elapsed"] < 5 and entry["answer"].startswith("HTTP 404")


class PingingEngine(FakeEngine):
    def ping(self) -> bool:
        return True


def test_the_deploy_probe_keeps_its_ways_redirects_followed_and_404_retried():
    """The post-deploy probe of a load balancer (not loopback) is not strict: an HTTP->HTTPS style redirect is
    followed, and a listener answering 404 for a moment is retried."""
    server, seen = serve(
        lambda n: (302, {"Location": "/ok"}, b"") if n == 1 else (404, {}, b"") if n == 2 else (200, {}, b"ok")
    )
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        health = smoke.poll(url, 10, interval=0.05, strict=False)
    finally:
        server.shutdown()
        server.server_close()
    assert health.status == 200 and seen == ["/healthz", "/ok", "/healthz"]  # followed, 404 retried
