"""The local target behind its proxy, with a fake engine whose "containers" are real processes serving HTTP
on ``$HOST:$PORT``: the proxy is the real one (its own process), the page is polled for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import docker.errors
import pytest
import requests

from jenkins_codeartifact import signals
from jenkins_codeartifact.consume import cleanup, containers, local_target, proxy, smoke
from jenkins_codeartifact.consume.local_target import LocalTarget
from jenkins_codeartifact.errors import ConfigError, OperationError

NAME = "ca-application-local"

# The application of each image: (seconds before it listens, status of every answer, answers before exiting)
APPS = {
    "reg:5000/application:1": (0.0, 200, None),
    "reg:5000/application:2": (0.0, 200, None),
    "reg:5000/application:slow": (5.0, 200, None),
    "reg:5000/application:broken": (0.0, 500, None),
    "reg:5000/application:crash": (0.0, None, None),
    "reg:5000/application:once": (0.0, 200, 1),
}
APP = textwrap.dedent(
    """
    import http.server, os, sys, time
    delay, status, left = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    if status == "None":
        sys.exit("ModuleNotFoundError: No module named 'flask'")
    time.sleep(delay)  # a slow start: imports, migrations, a cache warmed
    left = [None if left == "None" else int(left)]
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = sys.argv[4].encode()
            self.send_response(int(status)); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
            if left[0] is not None:
                left[0] -= 1
                if not left[0]:
                    os._exit(0)
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), H).serve_forever()
    """
)


class ProcessContainer:
    """A container whose application is a local process."""

    def __init__(self, engine: ProcessEngine, name: str, image: str, kw: dict) -> None:
        self.engine, self.name, self.image, self.kw = engine, name, image, kw
        self.labels = kw.get("labels") or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.status, self.attrs = "created", {}
        self.id = f"{name}-id"

    def start(self) -> None:
        delay, status, left = APPS[self.image]
        env = {**os.environ, **self.kw["environment"]}
        args = [sys.executable, "-c", APP, str(delay), str(status), str(left), self.image]
        self.proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
        self.status = "running"

    def reload(self) -> None:
        if self.name not in self.engine.by_name:
            raise docker.errors.NotFound("gone")
        if self.proc is not None and self.proc.poll() is not None:
            self.status, self.attrs = "exited", {"State": {"Running": False, "ExitCode": self.proc.returncode}}

    def logs(self, tail: int = 200) -> bytes:
        if self.proc is None or self.proc.poll() is None:
            return b""
        return self.proc.stderr.read() if self.proc.stderr else b""

    def stop(self, timeout: int = 10) -> None:
        self.engine.events.append(("stop", self.name))
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.status = "exited"

    def remove(self, force: bool = False) -> None:
        self.stop()
        self.engine.by_name.pop(self.name, None)


class ProcessEngine:
    def __init__(self) -> None:
        self.by_name: dict[str, ProcessContainer] = {}
        self.events: list[tuple[str, str]] = []
        self.created: list[dict] = []
        outer = self

        class _Images:
            def get(self, ref: str) -> object:
                return object()

            def pull(self, repository: str, tag: str | None = None, auth_config: dict | None = None) -> object:
                return type("I", (), {"id": "sha256:1"})()

        class _Containers:
            def create(self, image: str, **kw: object) -> ProcessContainer:
                name = str(kw["name"])
                if name in outer.by_name:
                    raise docker.errors.APIError(f"Conflict. The container name {name} is already in use")
                outer.created.append(dict(kw))
                outer.by_name[name] = c = ProcessContainer(outer, name, image, dict(kw))
                return c

            def get(self, name: str) -> ProcessContainer:
                if name not in outer.by_name:
                    raise docker.errors.NotFound(name)
                return outer.by_name[name]

            def list(self, all: bool = False, filters: dict | None = None) -> list[ProcessContainer]:
                key, _, value = str((filters or {}).get("label", "")).partition("=")
                return [c for c in list(outer.by_name.values()) if c.labels.get(key) == value]

        self.images, self.containers = _Images(), _Containers()

    def running(self) -> list[str]:
        return sorted(c.image for c in self.by_name.values() if c.status == "running")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def engine(tmp_path):
    engine = ProcessEngine()
    yield engine
    local_target.teardown_local(engine, NAME, tmp_path / "state" / f"{NAME}.json")  # stops the proxy by PID
    for c in list(engine.by_name.values()):
        c.remove()


@pytest.fixture
def target(tmp_path) -> LocalTarget:
    return LocalTarget(NAME, free_port(), tmp_path / "state" / f"{NAME}.json", timeout=15)


def deploy(engine: ProcessEngine, target: LocalTarget, tag: str):
    return local_target.deploy_local(engine, f"reg:5000/application:{tag}", target, tag=tag)


def page(target: LocalTarget) -> str:
    return requests.get(f"http://127.0.0.1:{target.port}/healthz", timeout=2).text


def test_first_deploy_serves_through_the_proxy_and_teardown_ends_it(engine, target):
    result = deploy(engine, target, "1")
    assert result.url == f"http://127.0.0.1:{target.port}/"
    assert page(target) == "reg:5000/application:1"
    state = proxy.running(target.state)
    assert state is not None and os.getsid(state.pid) != os.getsid(0)  # its own session: it outlives the command
    done = local_target.teardown_local(engine, NAME, target.state)
    assert done["proxy_pid"] == state.pid and len(done["removed"]) == 1
    with pytest.raises(requests.ConnectionError):
        page(target)
    assert not target.state.exists() and engine.by_name == {}


def test_the_proxy_gets_no_secret_of_the_command(engine, target, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-in-the-agent")
    monkeypatch.setenv("CA_INDEX_PASSWORD", "index-password-of-the-build")
    deploy(engine, target, "1")
    state = proxy.running(target.state)
    assert state is not None
    environ = Path(f"/proc/{state.pid}/environ").read_bytes()
    assert b"aws-secret-in-the-agent" not in environ and b"index-password-of-the-build" not in environ
    assert b"BUILD_ID=dontKillMe" in environ.split(b"\0")


def test_a_slow_app_is_updated_with_at_most_one_second_of_failed_answers(engine, target, capsys):
    deploy(engine, target, "1")
    answers: list[tuple[float, str | None]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                answers.append((time.monotonic(), page(target)))
            except requests.RequestException:
                answers.append((time.monotonic(), None))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.monotonic()
    deploy(engine, target, "slow")  # listens only after 5 s
    took = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    poller.join(5)
    assert took >= 5
    failed, since = 0.0, None
    for at, body in answers:
        if body is None and since is None:
            since = at
        elif body is not None and since is not None:
            failed, since = failed + at - since, None
    assert since is None and failed <= 1.0, answers
    with capsys.disabled():
        print(f"\nlocal update of a 5 s app: {failed:.2f}s of failed answers, {len(answers)} GETs over {took:.1f}s")
    bodies = [b for _, b in answers]
    assert bodies[0] == "reg:5000/application:1" and bodies[-1] == "reg:5000/application:slow"
    assert engine.running() == ["reg:5000/application:slow"]  # the previous one was stopped after the switch


def test_an_unhealthy_candidate_never_touches_the_running_one(engine, target, caplog):
    deploy(engine, target, "1")
    with pytest.raises(containers.SmokeFailed, match=r"health check of .*:broken failed: HTTP 500 until the dead"):
        local_target.deploy_local(engine, "reg:5000/application:broken", LocalTarget(**{**vars(target), "timeout": 1}))
    assert page(target) == "reg:5000/application:1"
    assert engine.running() == ["reg:5000/application:1"] and len(engine.by_name) == 1
    assert ("stop", next(iter(engine.by_name))) not in engine.events


def test_a_candidate_that_exits_says_so_with_its_log(engine, target, caplog):
    deploy(engine, target, "1")
    with pytest.raises(containers.SmokeFailed, match="the container exited") as info:
        deploy(engine, target, "crash")
    assert "the local target still runs the previous one" in str(info.value)
    assert "exited with code 1" in (info.value.hint or "")
    assert "No module named 'flask'" in caplog.text
    assert page(target) == "reg:5000/application:1"


def test_a_failure_after_the_switch_points_the_proxy_back(engine, target, monkeypatch, caplog):
    deploy(engine, target, "1")
    monkeypatch.setattr(local_target, "VERIFY_TIMEOUT", 1.0)
    with pytest.raises(OperationError, match=r"passed its check on a spare port but not through 127\.0\.0\.1"):
        deploy(engine, target, "once")  # answers its health check, then dies
    assert page(target) == "reg:5000/application:1"
    assert engine.running() == ["reg:5000/application:1"] and len(engine.by_name) == 1
    assert "serves again" in caplog.text
    deploy(engine, target, "2")  # and the next deploy goes through
    assert page(target) == "reg:5000/application:2" and len(engine.by_name) == 1


def test_an_abort_during_the_switch_leaves_the_previous_one_serving(engine, target, monkeypatch):
    deploy(engine, target, "1")
    real = proxy.switch
    cleanup.drain()

    def switch_then_abort(*args: object) -> None:
        real(*args)  # the switch landed; the abort comes before the verification
        monkeypatch.setattr(proxy, "switch", real)
        raise signals.Terminated

    monkeypatch.setattr(proxy, "switch", switch_then_abort)
    with pytest.raises(signals.Terminated):
        deploy(engine, target, "2")
    assert page(target) == "reg:5000/application:1"
    assert len(engine.by_name) == 1
    assert f"restored the previous local target {NAME}" in cleanup.drain()


def test_a_port_taken_by_something_else_is_named_and_nothing_is_left(engine, target):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", target.port))
        squatter.listen()
        with pytest.raises(OperationError, match=rf"proxy did not start on 127\.0\.0\.1:{target.port}") as info:
            deploy(engine, target, "1")
    assert f"port {target.port}" in (info.value.hint or "")
    assert engine.by_name == {} and proxy.running(target.state) is None


def test_a_container_of_the_pre_proxy_layout_is_replaced(engine, target):
    legacy = engine.containers.create(
        "reg:5000/application:1", name=NAME, environment={"PORT": str(target.port), "HOST": "127.0.0.1"}
    )
    legacy.start()
    smoke.poll(f"http://127.0.0.1:{target.port}/", 5, strict=False)
    deploy(engine, target, "2")
    assert page(target) == "reg:5000/application:2"
    assert NAME not in engine.by_name and len(engine.by_name) == 1


def test_a_proxy_that_died_is_started_again(engine, target):
    deploy(engine, target, "1")
    state = proxy.running(target.state)
    assert state is not None
    proxy._end(state.pid)  # the agent rebooted, say
    deploy(engine, target, "2")
    assert page(target) == "reg:5000/application:2" and len(engine.by_name) == 1


def test_a_pid_in_the_state_that_is_not_our_proxy_is_never_signalled(engine, target):
    target.state.parent.mkdir(parents=True)
    target.state.write_text(f'{{"pid": {os.getpid()}, "port": {target.port}, "backend": "127.0.0.1:1"}}')
    assert proxy.running(target.state) is None
    assert local_target.teardown_local(engine, NAME, target.state)["proxy_pid"] is None  # and we are alive


def test_volumes_reach_the_container(engine, target, tmp_path):
    volumes = local_target.parse_volumes(["app-data:/data", f"{tmp_path}/uploads:/app/uploads:ro"])
    deploy(engine, LocalTarget(**{**vars(target), "volumes": volumes}), "1")
    assert engine.created[-1]["volumes"] == {
        "app-data": {"bind": "/data", "mode": "rw"},
        f"{tmp_path}/uploads": {"bind": "/app/uploads", "mode": "ro"},
    }


@pytest.mark.parametrize("bad", ["data", "data:relative", ":/data", "data:/data:rx", "a:/b:ro:x"])
def test_a_bad_volume_is_one_clear_line(bad):
    with pytest.raises(ConfigError, match=rf"--local-volume '{bad}': expected SOURCE:TARGET\[:ro\]"):
        local_target.parse_volumes([bad])


def test_state_file_location(monkeypatch, tmp_path):
    assert local_target.state_file(str(tmp_path), NAME) == tmp_path / f"{NAME}.json"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    expected = tmp_path / "jenkins-codeartifact" / "local-target" / f"{NAME}.json"
    assert local_target.state_file(None, NAME) == expected
    assert Path(expected).parent.name == "local-target"
