"""containers.py with a fake engine: the network option, engine errors, health polling, start, smoke test."""

from __future__ import annotations

import os
import signal
import threading
import time

import docker
import docker.errors
import pytest

from jenkins_codeartifact import signals
from jenkins_codeartifact.consume import cleanup, containers, smoke
from jenkins_codeartifact.errors import ConfigError, OperationError, PreconditionError


def test_unknown_network():
    with pytest.raises(ConfigError, match="host, bridge"):
        containers.validate_network("overlay")


# ------------------------------------------------------------------------------------ engine, health


def test_engine_absent():
    def factory():
        return docker.DockerClient(base_url="unix:///nonexistent/docker.sock")

    with pytest.raises(PreconditionError, match="Docker engine is not reachable"):
        containers.engine(factory)


def test_the_poll_gives_up_at_timeout():
    now = [0.0]

    def sleep(s):
        now[0] += s

    health = smoke.poll(
        f"http://127.0.0.1:{containers.free_port()}/healthz",
        2.0,
        clock=lambda: now[0],
        sleep=sleep,
        interval=0.5,
        strict=False,
    )
    assert health.status is None
    assert health.seconds >= 2.0


def test_the_poll_stops_when_the_container_dies():
    health = smoke.poll(f"http://127.0.0.1:{containers.free_port()}/", 60.0, alive=lambda: False, strict=False)
    assert health.status is None
    assert health.seconds < 5


# --------------------------------------------------------------------------- containers (faked engine)


class FakeHandle:
    def __init__(self, engine, name):
        self.engine, self.name, self.status = engine, name, "created"

    def start(self):
        if self.engine.start_error:
            raise self.engine.start_error
        self.status = "running"

    def reload(self):
        if self.engine.reload_error:
            raise self.engine.reload_error

    def logs(self, tail=200):
        return b"booting\n"

    def remove(self, force=False):
        if self.engine.remove_error:
            raise self.engine.remove_error
        self.engine.containers.by_name.pop(self.name, None)


class FakeEngine:
    """The SDK calls containers.start makes; ``run`` would pull a missing image, so it must not be used."""

    def __init__(self, local_images=("application:1",)):
        self.start_error: Exception | None = None
        self.reload_error: Exception | None = None
        self.remove_error: Exception | None = None
        engine = self

        class _Images:
            def get(self, ref):
                if ref not in local_images:
                    raise docker.errors.ImageNotFound(f"No such image: {ref}")
                return object()

        class _Containers:
            def __init__(self):
                self.by_name: dict[str, FakeHandle] = {}

            def create(self, ref, **kw):
                handle = FakeHandle(engine, kw["name"])
                self.by_name[kw["name"]] = handle
                return handle

            def get(self, name):
                if name not in self.by_name:
                    raise docker.errors.NotFound(f"No such container: {name}")
                return self.by_name[name]

            def run(self, ref, **kw):
                raise AssertionError("containers.run pulls missing images and leaks containers on failure")

        self.images, self.containers = _Images(), _Containers()


def test_start_never_pulls_a_missing_image():
    engine = FakeEngine(local_images=())
    with pytest.raises(PreconditionError, match="image application:1 not found") as info:
        containers.start(engine, "application:1", name="c", network="host", container_port=8080)
    assert "build it first" in (info.value.hint or "")
    assert engine.containers.by_name == {}


def test_a_container_that_fails_to_start_is_removed():
    engine = FakeEngine()
    engine.start_error = docker.errors.APIError("Bind for 127.0.0.1:8080 failed: port is already allocated")
    with pytest.raises(OperationError, match=r"cannot start application:1 as c: .*port is already allocated"):
        containers.start(engine, "application:1", name="c", network="bridge", container_port=8080, host_port=8080)
    assert engine.containers.by_name == {}


def test_engine_error_while_watching_a_container():
    engine = FakeEngine()
    container = containers.start(engine, "application:1", name="c", network="host", container_port=8080)
    engine.reload_error = docker.errors.APIError("500 Server Error: Internal Server Error")
    with pytest.raises(OperationError, match="lost track of container c") as info:
        container.alive()
    assert "Docker engine" in (info.value.hint or "")
    engine.reload_error = docker.errors.NotFound("gone")
    assert container.alive() is False


def test_a_failed_removal_does_not_hide_the_smoke_test_failure(monkeypatch, caplog):
    engine = FakeEngine()
    engine.remove_error = docker.errors.APIError("removal of container is already in progress")
    monkeypatch.setattr(smoke, "poll", lambda url, timeout, **kw: containers.Health(url, 500, 1.0))
    with pytest.raises(OperationError, match="smoke test of application:1 failed: HTTP 500"):
        containers.smoke_test(engine, "application:1", timeout=1)
    assert "could not remove container ca-smoke-" in caplog.text
    assert "docker rm -f ca-smoke-" in caplog.text


def test_an_abort_while_the_engine_creates_the_container_still_removes_it():
    engine = FakeEngine()
    create = engine.containers.create

    def create_then_abort(ref, **kw):
        create(ref, **kw)  # the engine made it; the answer never reached us
        raise KeyboardInterrupt

    engine.containers.create = create_then_abort
    with pytest.raises(KeyboardInterrupt):
        containers.smoke_test(engine, "application:1", timeout=1)
    assert engine.containers.by_name == {}
    assert [n for n in cleanup.drain() if n.startswith("removed the smoke test container ca-smoke-")]


def test_a_second_sigterm_during_the_removal_does_not_interrupt_it(monkeypatch):
    """Two SIGTERMs 50 ms apart, the second while the container is being removed: it is removed all the same."""
    engine = FakeEngine()
    removing = threading.Event()
    real_remove = FakeHandle.remove

    def slow_remove(self, force=False):
        removing.set()
        time.sleep(0.3)  # the engine takes its time; a signal lands meanwhile
        real_remove(self, force)

    monkeypatch.setattr(FakeHandle, "remove", slow_remove)

    def healthy_until_killed(url, timeout, **kw):
        time.sleep(5)
        return containers.Health(url, 200, 5.0)

    monkeypatch.setattr(smoke, "poll", healthy_until_killed)

    def kill_twice():
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        removing.wait(5)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    started = time.monotonic()
    with signals.handlers(), pytest.raises(signals.Terminated):
        threading.Thread(target=kill_twice, daemon=True).start()
        containers.smoke_test(engine, "application:1", timeout=10)
    assert time.monotonic() - started < 2
    assert engine.containers.by_name == {}
