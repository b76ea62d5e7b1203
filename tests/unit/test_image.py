"""image.py without a Docker engine: secret handling, BuildKit probing, error mapping, push retries."""

from __future__ import annotations

import base64
import http.server
import io
import logging
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import boto3
import docker.errors
import pytest
from botocore.stub import Stubber

from jenkins_codeartifact import redact
from jenkins_codeartifact.consume import image
from jenkins_codeartifact.errors import ConfigError, OperationError, PreconditionError
from jenkins_codeartifact.index import Index

TOKEN = "eyJ2ZXIiOjEsImlzdSI6MTcwMDAwMDAwMH0.tok+en/with=chars"
INDEX = Index(
    upload_url="https://d-123456789012.d.codeartifact.eu-west-1.amazonaws.com/pypi/repo/",
    simple_url="https://d-123456789012.d.codeartifact.eu-west-1.amazonaws.com/pypi/repo/simple/",
    username="aws",
    password=TOKEN,
)


@pytest.fixture(autouse=True)
def _secrets():
    redact.clear()
    redact.register(TOKEN)
    yield
    redact.clear()


# ------------------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("tag", ["1", "42", "v1.2.3", "main_7", "a" * 128])
def test_valid_tags(tag):
    assert image.validate_ref("application", tag) == tag


@pytest.mark.parametrize("tag", ["", None, "-1", ".x", "a b", "a:b", "a" * 129])
def test_invalid_tags(tag):
    with pytest.raises(ConfigError):
        image.validate_ref("application", tag)


@pytest.mark.parametrize("name", ["Application", "app!", "/app", "app/", ""])
def test_invalid_names(name):
    with pytest.raises(ConfigError, match="image name"):
        image.validate_ref(name, "1")


def test_unknown_network():
    with pytest.raises(ConfigError, match="host, bridge"):
        image.validate_network("overlay")


def test_missing_dockerfile(tmp_path):
    with pytest.raises(ConfigError, match="no Dockerfile"):
        image.check_context(tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        image.check_context(tmp_path / "nope")


# ------------------------------------------------------------------------------------ pip.conf secret


def test_pip_config_carries_the_token_quoted():
    text = image.pip_config(INDEX)
    assert text.startswith("[global]\nindex-url = https://aws:")
    assert "tok%2Ben%2Fwith%3Dchars@d-123456789012" in text
    assert "trusted-host" not in text


def test_pip_config_trusts_plain_http_hosts_other_than_loopback():
    remote = Index("http://nexus:8081/x/", "http://nexus:8081/x/simple/", "u", "secretpw")
    local = Index("http://127.0.0.1:3141/x/", "http://127.0.0.1:3141/x/+simple/", "u", "secretpw")
    assert "trusted-host = nexus" in image.pip_config(remote)
    assert "trusted-host" not in image.pip_config(local)


def test_secret_file_is_private_and_removed_even_on_error():
    seen: list[Path] = []
    with pytest.raises(RuntimeError), image.secret_file("x = 1\n") as path:
        seen.append(path)
        assert path.read_text() == "x = 1\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        raise RuntimeError("boom")
    assert not seen[0].exists()
    assert not seen[0].parent.exists()


# --------------------------------------------------------------------------------- BuildKit probing


def _runner(answers: dict[str, tuple[int, str]]):
    calls: list[list[str]] = []

    def run(argv, **kw):
        calls.append(argv)
        key = "buildx" if argv[1] == "buildx" else "build"
        code, out = answers[key]
        return subprocess.CompletedProcess(argv, code, out, "" if code == 0 else out)

    return run, calls


def test_buildx_is_preferred():
    run, _ = _runner({"buildx": (0, "github.com/docker/buildx v0.12"), "build": (0, "--secret")})
    kit = image.find_buildkit("sh", run=run)
    assert kit.argv[1:] == ("buildx", "build", "--load")
    assert kit.kind == "buildx"


def test_legacy_cli_with_buildkit_env():
    run, _ = _runner({"buildx": (1, "docker: 'buildx' is not a docker command."), "build": (0, "  --secret ...")})
    kit = image.find_buildkit("sh", run=run)
    assert kit.argv[1:] == ("build",)
    assert kit.env == {"DOCKER_BUILDKIT": "1"}


def test_cli_without_buildkit_fails_clearly_and_never_falls_back():
    run, _ = _runner(
        {
            "buildx": (1, "unknown command"),
            "build": (1, "ERROR: BuildKit is enabled but the buildx component is missing"),
        },
    )
    with pytest.raises(PreconditionError, match="cannot do BuildKit builds") as info:
        image.find_buildkit("sh", run=run)
    assert "build-arg fallback would leak the token" in (info.value.hint or "")


def test_cli_missing():
    with pytest.raises(PreconditionError, match="not found"):
        image.find_buildkit("/nonexistent/docker")


# ------------------------------------------------------------------------------------ build (faked)


class FakePopen:
    """Stands in for the docker CLI: records argv/env, checks the secret file, prints canned output."""

    calls: list[dict[str, Any]] = []  # noqa: RUF012

    def __init__(self, argv, *, output: str = "", code: int = 0, **kw):
        secret = next(a for a in argv if a.startswith("id=pipconf,src=")).split("src=", 1)[1]
        FakePopen.calls.append({"argv": argv, "env": kw["env"], "secret": Path(secret).read_text()})
        self.secret_path = Path(secret)
        iid = Path(argv[argv.index("--iidfile") + 1])
        if code == 0:
            iid.write_text("sha256:" + "ab" * 32)
        self.stdout = io.StringIO(output)
        self.returncode = code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _build(tmp_path, output="#1 DONE\n", code=0, **kw):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    FakePopen.calls = []

    def popen(argv, **pkw):
        return FakePopen(argv, output=output, code=code, **pkw)

    run, _ = _runner({"buildx": (1, ""), "build": (0, "--secret")})
    return image.build(
        INDEX, context=tmp_path, image="application:1", cli="sh", popen=popen, probe=run, base_image="base:1", **kw
    )


def test_build_passes_the_index_only_as_a_secret_file(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "preflight_index", lambda index, project: None)
    monkeypatch.setenv("CA_INDEX_PASSWORD", TOKEN)
    result = _build(tmp_path)
    assert result.image_id == "sha256:" + "ab" * 32
    (call,) = FakePopen.calls
    assert TOKEN not in " ".join(call["argv"])
    assert "tok%2Ben" not in " ".join(call["argv"])
    assert all(TOKEN not in v for v in call["env"].values())
    assert call["env"]["DOCKER_BUILDKIT"] == "1"
    assert "tok%2Ben%2Fwith%3Dchars" in call["secret"]
    assert "--build-arg" in call["argv"]
    assert "BASE_IMAGE=base:1" in call["argv"]
    at = call["argv"].index("--network")
    assert call["argv"][at : at + 2] == ["--network", "host"]
    secret = next(a for a in call["argv"] if a.startswith("id=pipconf,src="))
    assert not Path(secret.split("src=", 1)[1]).exists()


def test_build_failure_removes_the_secret_and_scrubs_output(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="jenkins_codeartifact")
    monkeypatch.setattr(image, "preflight_index", lambda index, project: None)
    output = f"#9 Looking in indexes: https://aws:{TOKEN}@host/simple/\n#9 ERROR: boom\n"
    with pytest.raises(OperationError, match="build of application:1 failed: #9 ERROR: boom"):
        _build(tmp_path, output=output, code=1)
    assert TOKEN not in caplog.text
    assert "aws:***@host" in caplog.text
    secret = next(a for a in FakePopen.calls[0]["argv"] if a.startswith("id=pipconf,src="))
    assert not Path(secret.split("src=", 1)[1]).exists()


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ("#9 ERROR: HTTP error 401 while getting https://x/simple/flask/\n", "refused the credentials"),
        ("#9 ERROR: No matching distribution found for fantastic-ascii==1.0.0\n", "no distribution for fantastic"),
        ("Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?\n", "not reachable"),
    ],
)
def test_build_failures_are_explained(tmp_path, monkeypatch, output, needle):
    monkeypatch.setattr(image, "preflight_index", lambda index, project: None)
    with pytest.raises(OperationError, match=needle):
        _build(tmp_path, output=output, code=1)


class _Status(http.server.BaseHTTPRequestHandler):
    status = 401

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def index_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


def test_expired_token_fails_before_docker_runs(tmp_path, index_server):
    index = Index(index_server, index_server, "aws", "expired-token")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run, _ = _runner({"buildx": (1, ""), "build": (0, "--secret")})

    def popen(*a, **k):
        raise AssertionError("docker must not run")

    with pytest.raises(OperationError, match=r"refused the credentials \(HTTP 401\)") as info:
        image.build(index, context=tmp_path, image="a:1", cli="sh", popen=popen, probe=run)
    assert "expired" in (info.value.hint or "")


def test_preflight_asks_for_the_first_requirement(tmp_path):
    (tmp_path / "requirements.txt").write_text("# pins\n--only-binary :all:\nFantastic_ASCII==1.0.0\nFlask==3\n")
    assert image.first_requirement(tmp_path) == "Fantastic_ASCII"
    assert image.first_requirement(tmp_path / "nope") is None


def test_preflight_tolerates_an_unreachable_index():
    index = Index("http://127.0.0.1:9/", f"http://127.0.0.1:{image.free_port()}/simple/", "aws", "x-token")
    image.preflight_index(index, "fantastic-ascii")  # pip inside the build may still reach it


# ------------------------------------------------------------------------------------ engine, health


def test_engine_absent():
    def factory():
        return docker.DockerClient(base_url="unix:///nonexistent/docker.sock")

    with pytest.raises(PreconditionError, match="Docker engine is not reachable"):
        image.engine(factory)


def test_wait_healthy_gives_up_at_timeout():
    now = [0.0]

    def sleep(s):
        now[0] += s

    health = image.wait_healthy(
        f"http://127.0.0.1:{image.free_port()}/healthz", 2.0, clock=lambda: now[0], sleep=sleep, interval=0.5
    )
    assert health.status is None
    assert health.seconds >= 2.0


def test_wait_healthy_stops_when_the_container_dies():
    health = image.wait_healthy(f"http://127.0.0.1:{image.free_port()}/", 60.0, alive=lambda: False)
    assert health.status is None
    assert health.seconds < 5


# ------------------------------------------------------------------------------------ registry, push


def test_registry_from_url():
    assert image.registry_from_url("https://registry.example:5000/").host == "registry.example:5000"
    assert image.registry_from_url("127.0.0.1:5000").host == "127.0.0.1:5000"
    assert image.registry_from_url("127.0.0.1:5000").reference("app", "3") == "127.0.0.1:5000/app:3"
    with pytest.raises(ConfigError):
        image.registry_from_url("")


def test_ecr_login_registers_the_password():
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    token = base64.b64encode(b"AWS:ecr-password-123").decode()
    stub.add_response(
        "get_authorization_token",
        {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": "https://1234.dkr.ecr.eu-west-1.x"}]},
    )
    with stub:
        registry = image.ecr_login(client)
    assert registry.host == "1234.dkr.ecr.eu-west-1.x"
    assert registry.auth == {"username": "AWS", "password": "ecr-password-123", "serveraddress": registry.host}
    assert "ecr-password-123" not in repr(registry)
    assert redact.scrub("ecr-password-123") == "***"


def test_ecr_login_denied():
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    stub.add_client_error("get_authorization_token", "AccessDeniedException", "no")
    with stub, pytest.raises(OperationError, match="ECR login failed") as info:
        image.ecr_login(client)
    assert "--registry" in (info.value.hint or "")


class FakeImages:
    def __init__(self):
        self.tags: list[tuple[str, str]] = []

    def get(self, ref):
        if ref != "application:1":
            raise docker.errors.ImageNotFound("no")
        outer = self

        class _Image:
            def tag(self, repository, tag):
                outer.tags.append((repository, tag))

        return _Image()


class FakeClient:
    def __init__(self, script):
        self.images = FakeImages()
        self.script = list(script)
        self.pushes = 0
        outer = self

        class _Api:
            def push(self, repository, tag, **kw):
                outer.pushes += 1
                step = outer.script.pop(0)
                if isinstance(step, Exception):
                    raise step
                return iter(step)

        self.api = _Api()


OK = [{"status": "Pushed", "id": "abc"}, {"aux": {"Tag": "1", "Digest": "sha256:" + "c" * 64, "Size": 1}}]
DOWN = [{"status": "The push refers to repository [127.0.0.1:1/application]"}, {"error": "connection refused"}]


def test_push_retries_with_backoff_then_succeeds():
    sleeps: list[float] = []
    client = FakeClient([DOWN, DOWN, OK])
    result = image.push(client, "application:1", image.Registry("127.0.0.1:1"), "application", "1", sleep=sleeps.append)
    assert result.digest == "sha256:" + "c" * 64
    assert result.attempts == 3
    assert sleeps == [2.0, 4.0]
    assert client.images.tags == [("127.0.0.1:1/application", "1")]


def test_push_gives_up_with_a_clear_error():
    sleeps: list[float] = []
    client = FakeClient([DOWN, docker.errors.APIError("Get http://127.0.0.1:1/v2/: connection refused"), DOWN])
    with pytest.raises(OperationError, match="failed after 3 attempts: connection refused") as info:
        image.push(client, "application:1", image.Registry("127.0.0.1:1"), "app", "1", attempts=3, sleep=sleeps.append)
    assert sleeps == [2.0, 4.0]
    assert "127.0.0.1:1 is up" in (info.value.hint or "")


def test_push_does_not_retry_a_refusal():
    client = FakeClient([[{"error": "unauthorized: authentication required"}], OK])
    with pytest.raises(OperationError, match="refused: unauthorized"):
        image.push(client, "application:1", image.Registry("r:1"), "app", "1", sleep=lambda s: None)
    assert client.pushes == 1


def test_push_of_a_missing_image():
    with pytest.raises(PreconditionError, match="application:2 not found") as info:
        image.push(FakeClient([]), "application:2", image.Registry("r:1"), "application", "2")
    assert "build it first" in (info.value.hint or "")


def test_push_engine_error_while_tagging_is_one_clear_error():
    client = FakeClient([])

    def broken(ref):
        raise docker.errors.APIError("500 Server Error: Internal Server Error (layer store busy)")

    client.images.get = broken
    with pytest.raises(OperationError, match=r"cannot tag application:1 as r:1/app:1: .*layer store busy") as info:
        image.push(client, "application:1", image.Registry("r:1"), "app", "1")
    assert "Docker engine" in (info.value.hint or "")


def test_push_to_a_missing_ecr_repository_says_how_to_create_it():
    client = FakeClient([[{"error": "name unknown: The repository with name 'app' does not exist"}]])
    registry = image.Registry("1234.dkr.ecr.eu-west-1.amazonaws.com", ecr=True)
    with pytest.raises(OperationError, match="refused: name unknown") as info:
        image.push(client, "application:1", registry, "app", "1", sleep=lambda s: None)
    assert "--template" in (info.value.hint or "")


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
    """The SDK calls image.start makes; ``run`` would pull a missing image, so it must not be used."""

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

            def run(self, ref, **kw):
                raise AssertionError("containers.run pulls missing images and leaks containers on failure")

        self.images, self.containers = _Images(), _Containers()


def test_start_never_pulls_a_missing_image():
    engine = FakeEngine(local_images=())
    with pytest.raises(PreconditionError, match="image application:1 not found") as info:
        image.start(engine, "application:1", name="c", network="host", container_port=8080)
    assert "build it first" in (info.value.hint or "")
    assert engine.containers.by_name == {}


def test_a_container_that_fails_to_start_is_removed():
    engine = FakeEngine()
    engine.start_error = docker.errors.APIError("Bind for 127.0.0.1:8080 failed: port is already allocated")
    with pytest.raises(OperationError, match=r"cannot start application:1 as c: .*port is already allocated"):
        image.start(engine, "application:1", name="c", network="bridge", container_port=8080, host_port=8080)
    assert engine.containers.by_name == {}


def test_engine_error_while_watching_a_container():
    engine = FakeEngine()
    container = image.start(engine, "application:1", name="c", network="host", container_port=8080)
    engine.reload_error = docker.errors.APIError("500 Server Error: Internal Server Error")
    with pytest.raises(OperationError, match="lost track of container c") as info:
        container.alive()
    assert "Docker engine" in (info.value.hint or "")
    engine.reload_error = docker.errors.NotFound("gone")
    assert container.alive() is False


def test_a_failed_removal_does_not_hide_the_smoke_test_failure(monkeypatch, caplog):
    engine = FakeEngine()
    engine.remove_error = docker.errors.APIError("removal of container is already in progress")
    monkeypatch.setattr(image, "wait_healthy", lambda url, timeout, **kw: image.Health(url, 500, 1.0))
    with pytest.raises(OperationError, match="smoke test of application:1 failed: HTTP 500"):
        image.smoke_test(engine, "application:1", timeout=1)
    assert "could not remove container ca-smoke-" in caplog.text
    assert "docker rm -f ca-smoke-" in caplog.text


def test_build_without_an_image_id_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "preflight_index", lambda index, project: None)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run, _ = _runner({"buildx": (1, ""), "build": (0, "--secret")})

    def popen(argv, **kw):
        proc = FakePopen(argv, output="#1 DONE\n", code=0, **kw)
        Path(argv[argv.index("--iidfile") + 1]).unlink()  # a CLI that ignores --iidfile
        return proc

    with pytest.raises(OperationError, match="wrote no image id") as info:
        image.build(INDEX, context=tmp_path, image="application:1", cli="sh", popen=popen, probe=run)
    assert "--iidfile" in (info.value.hint or "")
