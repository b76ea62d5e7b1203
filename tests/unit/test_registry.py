"""registry.py: registry URLs, ECR login, push retries and refusals, with a fake engine and Stubber."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import re
import threading
import time

import boto3
import docker.errors
import pytest
import requests
from botocore.stub import Stubber

from jenkins_codeartifact import redact
from jenkins_codeartifact.consume import registry
from jenkins_codeartifact.consume.registry import Registry
from jenkins_codeartifact.errors import ConfigError, OperationError, PreconditionError


@pytest.fixture(autouse=True)
def _secrets():
    redact.clear()
    yield
    redact.clear()


# ------------------------------------------------------------------------------------ registry, push


def test_registry_from_url():
    assert registry.registry_from_url("https://registry.example:5000/").host == "registry.example:5000"
    assert registry.registry_from_url("127.0.0.1:5000").host == "127.0.0.1:5000"
    assert registry.registry_from_url("127.0.0.1:5000").reference("app", "3") == "127.0.0.1:5000/app:3"
    with pytest.raises(ConfigError):
        registry.registry_from_url("")


def test_ecr_login_registers_the_password():
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    token = base64.b64encode(b"AWS:ecr-password-123").decode()
    stub.add_response(
        "get_authorization_token",
        {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": "https://1234.dkr.ecr.eu-west-1.x"}]},
    )
    with stub:
        ecr = registry.ecr_login(client)
    assert ecr.host == "1234.dkr.ecr.eu-west-1.x"
    assert ecr.auth == {"username": "AWS", "password": "ecr-password-123", "serveraddress": ecr.host}
    assert "ecr-password-123" not in repr(ecr)
    assert redact.scrub("ecr-password-123") == "***"


def test_ecr_login_denied():
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    stub.add_client_error("get_authorization_token", "AccessDeniedException", "no")
    with stub, pytest.raises(OperationError, match="ECR login failed") as info:
        registry.ecr_login(client)
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
    result = registry.push(client, "application:1", Registry("127.0.0.1:1"), "application", "1", sleep=sleeps.append)
    assert result.digest == "sha256:" + "c" * 64
    assert result.attempts == 3
    assert 1.0 <= sleeps[0] <= 2.0 and 2.0 <= sleeps[1] <= 4.0  # doubling, 50-100 % of it (netpolicy)
    assert client.images.tags == [("127.0.0.1:1/application", "1")]


def test_push_gives_up_with_a_clear_error():
    sleeps: list[float] = []
    client = FakeClient([DOWN, docker.errors.APIError("Get http://127.0.0.1:1/v2/: connection refused"), DOWN])
    with pytest.raises(OperationError, match="failed after 3 attempts: connection refused") as info:
        registry.push(client, "application:1", Registry("127.0.0.1:1"), "app", "1", attempts=3, sleep=sleeps.append)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]
    assert "127.0.0.1:1 is up" in (info.value.hint or "")


def test_push_does_not_retry_a_refusal():
    client = FakeClient([[{"error": "unauthorized: authentication required"}], OK])
    with pytest.raises(OperationError, match="refused: unauthorized"):
        registry.push(client, "application:1", Registry("r:1"), "app", "1", sleep=lambda s: None)
    assert client.pushes == 1


def test_push_of_a_missing_image():
    with pytest.raises(PreconditionError, match="application:2 not found") as info:
        registry.push(FakeClient([]), "application:2", Registry("r:1"), "application", "2")
    assert "build it first" in (info.value.hint or "")


def test_push_engine_error_while_tagging_is_one_clear_error():
    client = FakeClient([])

    def broken(ref):
        raise docker.errors.APIError("500 Server Error: Internal Server Error (layer store busy)")

    client.images.get = broken
    with pytest.raises(OperationError, match=r"cannot tag application:1 as r:1/app:1: .*layer store busy") as info:
        registry.push(client, "application:1", Registry("r:1"), "app", "1")
    assert "Docker engine" in (info.value.hint or "")


def test_push_to_a_missing_ecr_repository_says_how_to_create_it():
    client = FakeClient([[{"error": "name unknown: The repository with name 'app' does not exist"}]])
    ecr = Registry("1234.dkr.ecr.eu-west-1.amazonaws.com", ecr=True)
    with pytest.raises(OperationError, match="refused: name unknown") as info:
        registry.push(client, "application:1", ecr, "app", "1", sleep=lambda s: None)
    assert "--template" in (info.value.hint or "")


def test_a_failed_push_never_says_done(caplog):
    caplog.set_level(logging.INFO, logger="jenkins_codeartifact")
    client = FakeClient([DOWN, DOWN])
    with pytest.raises(OperationError, match="failed after 2 attempts"):
        registry.push(client, "application:1", Registry("127.0.0.1:1"), "app", "1", attempts=2, sleep=lambda s: None)
    assert "push 127.0.0.1:1/app:1: failed after" in caplog.text
    assert "done in" not in caplog.text


def test_a_push_that_stalls_is_a_failed_attempt():
    import requests

    client = FakeClient([requests.exceptions.ReadTimeout("Read timed out. (read timeout=5)"), OK])
    client.api.timeout = 60
    result = registry.push(client, "application:1", Registry("r:1"), "app", "1", stall=5, sleep=lambda s: None)
    assert result.attempts == 2
    assert client.api.timeout == 60  # the engine client's own timeout is back


def test_credentials_in_the_registry_url_are_refused_and_masked():
    with pytest.raises(ConfigError, match="credentials in the registry URL are not accepted") as info:
        registry.registry_from_url("https://deployer:hunter2-pw@registry.example:5000")
    assert "hunter2-pw" not in str(info.value)
    assert "docker login" in (info.value.hint or "")
    assert redact.scrub("hunter2-pw") == "***"


# ------------------------------------------------------------------------------ digest of a tag


DIGEST = "sha256:" + "d" * 64


class _Manifests(http.server.BaseHTTPRequestHandler):
    """A registry v2 that knows one tag (``app:7``) and answers other requests with the server's status."""

    def do_HEAD(self):
        self.server.seen.append((self.path, self.headers.get("Accept", "")))  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        if status == 200 and self.path != "/v2/app/manifests/7":
            status = 404
        self.send_response(status)
        if status == 200:
            self.send_header("Docker-Content-Digest", DIGEST)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def v2():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Manifests)
    server.status, server.seen = 200, []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_digest_of_a_tag_comes_from_the_registry(v2):
    found = registry.registry_digest(Registry(f"127.0.0.1:{v2.server_address[1]}"), "app", "7")
    assert found == DIGEST
    ((path, accept),) = v2.seen
    assert path == "/v2/app/manifests/7" and "application/vnd.oci.image.index.v1+json" in accept


def test_a_tag_that_is_not_in_the_registry_is_a_precondition(v2):
    with pytest.raises(PreconditionError, match=r"image app:8 is not in the registry 127\.0\.0\.1:\d+; nothing was"):
        registry.registry_digest(Registry(f"127.0.0.1:{v2.server_address[1]}"), "app", "8")


def test_a_registry_that_wants_credentials_deploys_by_tag(v2, caplog):
    v2.status = 401
    assert registry.registry_digest(Registry(f"127.0.0.1:{v2.server_address[1]}"), "app", "7") is None
    assert "deploying it by tag" in caplog.text


def test_a_registry_answering_503_is_retried_then_named(v2, monkeypatch):
    v2.status = 503
    monkeypatch.setattr(registry.time, "sleep", lambda s: None)
    with pytest.raises(PreconditionError, match=r"registry unreachable: .* answered HTTP 503, 3 attempts"):
        registry.registry_digest(Registry(f"127.0.0.1:{v2.server_address[1]}"), "app", "7")
    assert len(v2.seen) == 3


def _ecr():
    return boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")


def test_the_digest_of_a_tag_in_ecr():
    client = _ecr()
    stub = Stubber(client)
    details = {"imageDetails": [{"repositoryName": "app", "imageDigest": DIGEST, "imageTags": ["7"]}]}
    stub.add_response("describe_images", details, {"repositoryName": "app", "imageIds": [{"imageTag": "7"}]})
    with stub:
        assert registry.ecr_digest(client, "app", "7") == DIGEST


@pytest.mark.parametrize("code", ["ImageNotFoundException", "RepositoryNotFoundException"])
def test_a_tag_that_is_not_in_ecr_is_a_precondition(code):
    client = _ecr()
    stub = Stubber(client)
    stub.add_client_error("describe_images", code, "The image with imageId {imageTag:'8'} does not exist")
    with stub, pytest.raises(PreconditionError, match=r"image app:8 is not in ECR \(The image") as info:
        registry.ecr_digest(client, "app", "8")
    assert info.value.exit_code == 3


@pytest.mark.parametrize(
    ("config", "can"),
    [
        (None, False),  # no CLI config at all: the API login made by this process does not reach BuildKit
        ({"auths": {}}, False),
        ({"auths": {"111122223333.dkr.ecr.us-east-1.amazonaws.com": {"auth": "QVdTOnRva2Vu"}}}, True),  # docker login
        ({"auths": {"111122223333.dkr.ecr.us-east-1.amazonaws.com": {"auth": "eA=="}}}, False),  # malformed
        ({"credHelpers": {"111122223333.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"}}, True),
        ({"credsStore": "desktop"}, True),
    ],
)
def test_buildkit_pulls_from_ecr_only_with_the_clis_own_login(tmp_path, monkeypatch, config, can):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
    ecr = Registry("111122223333.dkr.ecr.us-east-1.amazonaws.com", {"username": "AWS"}, ecr=True)
    assert registry.cli_can_pull(ecr) is can
    assert registry.cli_can_pull(registry.registry_from_url("127.0.0.1:5001"))  # --registry: the CLI's login


# ------------------------------------------------------------------------------------ push progress


def slow_push(silence: float):
    """Two layers (10 MB to send, one the registry has); the registry stalls ``silence`` s mid-upload."""
    yield {"status": "The push refers to repository [127.0.0.1:1/application]"}
    yield {"status": "Preparing", "id": "aaa"}
    yield {"status": "Preparing", "id": "bbb"}
    yield {"status": "Layer already exists", "id": "bbb", "progressDetail": {}}
    yield {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 5_000_000, "total": 10_000_000}}
    time.sleep(silence)  # the engine says nothing: a big layer to a slow registry
    yield {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 10_000_000, "total": 10_000_000}}
    yield {"status": "Pushed", "id": "aaa", "progressDetail": {}}
    yield {"aux": {"Tag": "1", "Digest": "sha256:" + "c" * 64, "Size": 1}}


def pushing_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "pushing:" in r.getMessage()]


def test_a_silent_engine_still_gets_a_progress_line_every_interval(monkeypatch, caplog):
    monkeypatch.setattr(registry, "PUSH_REPORT_EVERY", 0.3)
    caplog.set_level(logging.INFO)
    result = registry.push(FakeClient([slow_push(1.2)]), "application:1", Registry("127.0.0.1:1"), "application", "1")
    assert result.digest == "sha256:" + "c" * 64
    lines = pushing_lines(caplog)
    assert 3 <= len(lines) <= 5, lines
    assert re.fullmatch(r"\[ *\d+\.\ds\] pushing: 5\.0 MB of 10\.0 MB sent, 1/2 layers done", lines[0]), lines[0]


def test_a_busy_engine_is_summarised_not_echoed(monkeypatch, caplog):
    monkeypatch.setattr(registry, "PUSH_REPORT_EVERY", 0.3)
    caplog.set_level(logging.INFO)

    def busy():
        for i in range(1, 101):  # a progress chunk every 10 ms for a second
            yield {"status": "Pushing", "id": "aaa", "progressDetail": {"current": i * 1_000_000, "total": 10**8}}
            time.sleep(0.01)
        yield {"status": "Pushed", "id": "aaa", "progressDetail": {}}

    registry.push(FakeClient([busy()]), "application:1", Registry("127.0.0.1:1"), "application", "1")
    lines = pushing_lines(caplog)
    assert 2 <= len(lines) <= 5, lines
    assert lines[-1].endswith("MB of 100.0 MB sent, 0/1 layers done")


def test_an_engine_lost_mid_stream_is_still_a_clear_failure(monkeypatch):
    def lost():
        yield {"status": "Preparing", "id": "aaa"}
        raise requests.ConnectionError("Connection aborted.")

    with pytest.raises(OperationError, match="failed after 1 attempts: lost the Docker engine: ConnectionError"):
        registry.push(FakeClient([lost()]), "application:1", Registry("127.0.0.1:1"), "app", "1", attempts=1)
