"""The local target's replacement order, with a fake docker client: the old container serves until the
new image has proved itself, and comes back if the new one fails on the real port."""

from __future__ import annotations

import docker.errors
import pytest

from jenkins_codeartifact import signals
from jenkins_codeartifact.consume import cleanup, containers, local_target
from jenkins_codeartifact.errors import OperationError

NAME = "ca-application-local"


class FakeContainer:
    def __init__(self, client, name, image_ref, port):
        self.client, self.name, self.image, self.port = client, name, image_ref, port
        self.status = "created"
        self.id = f"{name}-{image_ref}-{len(client.events)}"

    def reload(self):
        if self.name not in self.client.by_name:
            raise docker.errors.NotFound("gone")

    def logs(self, tail=200):
        return b"booted\n"

    def remove(self, force=False):
        self.client.events.append(("remove", self.name, self.image))
        self.client.by_name.pop(self.name, None)

    def rename(self, new):
        self.client.events.append(("rename", self.name, new))
        self.client.by_name[new] = self.client.by_name.pop(self.name)
        self.name = new

    def stop(self, timeout=10):
        self.client.events.append(("stop", self.name, self.image))
        self.status = "exited"

    def start(self):
        self.client.events.append(("start", self.name, self.image))
        failure = self.client.fail_start.pop(self.name, None)
        if failure is not None:
            raise failure
        self.status = "running"


class FakeClient:
    def __init__(self, healthy):
        self.by_name: dict[str, FakeContainer] = {}
        self.events: list[tuple[str, ...]] = []
        self.healthy = healthy  # (image, name) -> bool
        self.fail_start: dict[str, Exception] = {}  # container name -> what its next start raises
        outer = self

        class _Images:
            def get(self, ref):
                return object()

            def pull(self, repository, tag=None, auth_config=None):
                outer.events.append(("pull", f"{repository}:{tag}"))

                class _I:
                    id = "sha256:1"

                return _I()

        class _Containers:
            def create(self, image_ref, **kw):
                if kw["name"] in outer.by_name:
                    raise docker.errors.APIError(f"Conflict. The container name {kw['name']} is already in use")
                port = int(kw["environment"]["PORT"])
                c = FakeContainer(outer, kw["name"], image_ref, port)
                outer.by_name[kw["name"]] = c
                outer.events.append(("create", kw["name"], image_ref))
                return c

            def run(self, image_ref, **kw):  # docker-py's: create, then start (the container stays if that fails)
                c = self.create(image_ref, **kw)
                c.start()
                return c

            def get(self, name):
                if name not in outer.by_name:
                    raise docker.errors.NotFound(name)
                return outer.by_name[name]

        self.images, self.containers = _Images(), _Containers()


@pytest.fixture
def fake(monkeypatch):
    client = FakeClient({})

    def wait_healthy(url, timeout, **kw):
        port = int(url.split(":")[2].split("/")[0])
        c = next(c for c in client.by_name.values() if c.port == port and c.status == "running")
        ok = client.healthy.get((c.image, c.name.replace("-candidate", "")), True)
        return containers.Health(url, 200 if ok else 500, 0.1)

    monkeypatch.setattr(containers, "wait_healthy", wait_healthy)
    return client


def run(client, ref, port=18080):
    return local_target.deploy_local(client, ref, name=NAME, port=port, tag=ref.rsplit(":", 1)[1])


def test_first_deploy(fake):
    result = run(fake, "reg:5000/application:1")
    assert result.url == "http://127.0.0.1:18080/"
    assert set(fake.by_name) == {NAME}
    assert fake.by_name[NAME].port == 18080


def test_replacement_happens_only_after_the_candidate_passes(fake):
    run(fake, "reg:5000/application:1")
    fake.events.clear()
    run(fake, "reg:5000/application:2")
    kinds = [e[:2] for e in fake.events]
    # candidate runs and passes while the old one still serves; then old is set aside, new starts
    assert kinds.index(("start", f"{NAME}-candidate")) < kinds.index(("rename", NAME))
    assert kinds.index(("stop", f"{NAME}-previous")) < kinds.index(("create", NAME))
    assert fake.by_name[NAME].image == "reg:5000/application:2"
    assert set(fake.by_name) == {NAME}


def test_a_bad_image_never_touches_the_running_one(fake, caplog):
    run(fake, "reg:5000/application:1")
    fake.healthy[("reg:5000/application:2", NAME)] = False
    fake.events.clear()
    with pytest.raises(OperationError, match="still runs the previous one"):
        run(fake, "reg:5000/application:2")
    assert not any(e[0] in ("stop", "rename") for e in fake.events)
    assert fake.by_name[NAME].image == "reg:5000/application:1"
    assert fake.by_name[NAME].status == "running"
    assert set(fake.by_name) == {NAME}  # the candidate was removed


def test_failure_on_the_real_port_brings_the_old_one_back(fake, monkeypatch):
    run(fake, "reg:5000/application:1")
    calls = {"n": 0}
    real = containers.wait_healthy

    def flaky(url, timeout, **kw):
        calls["n"] += 1
        health = real(url, timeout, **kw)
        return health if calls["n"] == 1 else containers.Health(url, None, 1.0)  # candidate ok, live fails

    monkeypatch.setattr(containers, "wait_healthy", flaky)
    with pytest.raises(OperationError, match=r"passed its check on a spare port but not on 127\.0\.0\.1") as info:
        run(fake, "reg:5000/application:2")
    assert "restarted" in (info.value.hint or "")
    assert fake.by_name[NAME].image == "reg:5000/application:1"
    assert fake.by_name[NAME].status == "running"


def assert_old_one_serves(fake):
    assert set(fake.by_name) == {NAME}  # no new container holding the name, no backup left
    assert fake.by_name[NAME].image == "reg:5000/application:1"
    assert fake.by_name[NAME].status == "running"


def test_port_taken_on_the_switch_brings_the_old_one_back(fake, caplog):
    run(fake, "reg:5000/application:1")
    fake.fail_start[NAME] = docker.errors.APIError("driver failed: Bind for 127.0.0.1:18080: port is already allocated")
    with pytest.raises(OperationError, match="port is already allocated"):
        run(fake, "reg:5000/application:2")
    assert_old_one_serves(fake)
    assert "runs again" in caplog.text
    # and the next deploy finds the real previous container, not a dead one
    run(fake, "reg:5000/application:3")
    assert fake.by_name[NAME].image == "reg:5000/application:3"
    assert set(fake.by_name) == {NAME}


@pytest.mark.parametrize("error", [OperationError("lost track of container"), KeyboardInterrupt()])
def test_any_error_after_the_switch_brings_the_old_one_back(fake, monkeypatch, error):
    run(fake, "reg:5000/application:1")
    real = containers.wait_healthy
    calls = {"n": 0}

    def failing(url, timeout, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the live container's check: the engine errs, or the build is aborted
            raise error
        return real(url, timeout, **kw)

    monkeypatch.setattr(containers, "wait_healthy", failing)
    with pytest.raises(type(error)):
        run(fake, "reg:5000/application:2")
    assert_old_one_serves(fake)


def test_a_failed_first_deploy_leaves_no_container(fake):
    fake.fail_start[NAME] = docker.errors.APIError("port is already allocated")
    with pytest.raises(OperationError, match="cannot start"):
        run(fake, "reg:5000/application:1")
    assert fake.by_name == {}


def test_a_failed_restore_does_not_hide_the_error(fake, monkeypatch, caplog):
    run(fake, "reg:5000/application:1")
    fake.fail_start[NAME] = docker.errors.APIError("port is already allocated")
    old = fake.by_name[NAME]

    def broken_rename(new):
        if new == NAME:
            raise docker.errors.APIError("engine hiccup")
        FakeContainer.rename(old, new)

    monkeypatch.setattr(old, "rename", broken_rename)
    with pytest.raises(OperationError, match="port is already allocated"):
        run(fake, "reg:5000/application:2")
    assert "could not restore the previous local target" in caplog.text
    assert f"docker rename {NAME}-previous {NAME}" in caplog.text


def test_teardown_removes_leftovers(fake):
    run(fake, "reg:5000/application:1")
    assert local_target.teardown_local(fake, NAME)["removed"] == [NAME]
    assert local_target.teardown_local(fake, NAME)["removed"] == []


def test_the_candidate_is_checked_as_a_labelled_container(fake, monkeypatch, caplog):
    labels = {}
    create = fake.containers.create

    def recording(image_ref, **kw):
        labels[kw["name"]] = kw["labels"][containers.LABEL]
        return create(image_ref, **kw)

    monkeypatch.setattr(fake.containers, "create", recording)
    fake.healthy[("reg:5000/application:1", NAME)] = False
    with pytest.raises(OperationError, match=r"health check of reg:5000/application:1 failed: HTTP 500") as info:
        run(fake, "reg:5000/application:1")
    assert str(info.value).endswith("(GET /healthz); the local target still runs the previous one")
    assert labels == {f"{NAME}-candidate": "candidate"}
    assert "container logs of reg:5000/application:1" in caplog.text
    assert fake.by_name == {}


@pytest.mark.parametrize("at", ["rename", "stop", "create", "start"])
def test_an_abort_at_any_point_of_the_switch_leaves_the_previous_one_serving(fake, monkeypatch, at):
    run(fake, "reg:5000/application:1")
    old = fake.by_name[NAME]
    cleanup.drain()

    def abort(real, only=None):
        fired = []

        def call(*args, **kw):
            result = real(*args, **kw)  # the engine did it; the abort lands before the answer
            if not fired and (only is None or kw.get("name") == only):
                fired.append(True)
                raise signals.Terminated
            return result

        return call

    if at in ("rename", "stop"):
        monkeypatch.setattr(old, at, abort(getattr(old, at)))
    elif at == "create":  # the live container's, not the candidate's
        monkeypatch.setattr(fake.containers, "create", abort(fake.containers.create, only=NAME))
    else:
        fake.fail_start[NAME] = signals.Terminated()
    with pytest.raises(signals.Terminated):
        run(fake, "reg:5000/application:2")
    assert_old_one_serves(fake)
    assert f"restored the previous local target {NAME}" in cleanup.drain()
