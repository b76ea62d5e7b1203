"""image.py without a Docker engine: the pip.conf secret, BuildKit probing, the faked build, the index check."""

from __future__ import annotations

import http.server
import io
import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from jenkins_codeartifact import redact
from jenkins_codeartifact.consume import containers, image
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


def test_missing_dockerfile(tmp_path):
    with pytest.raises(ConfigError, match="no Dockerfile"):
        image.check_context(tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        image.check_context(tmp_path / "nope")


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
        self.pid = 0
        self.kw = kw

    def wait(self, timeout=None):
        return self.returncode


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


def test_registry_cache_options_become_build_args_and_cache_from(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "preflight_index", lambda index, project: None)
    _build(tmp_path, build_args={"APP_VERSION": "1.2"}, inline_cache=True, cache_from="reg:5000/app:buildcache")
    argv = FakePopen.calls[0]["argv"]
    pairs = {argv[i + 1] for i, a in enumerate(argv) if a == "--build-arg"}
    assert pairs == {"BASE_IMAGE=base:1", "APP_VERSION=1.2", "BUILDKIT_INLINE_CACHE=1"}
    assert argv[argv.index("--cache-from") + 1] == "reg:5000/app:buildcache"
    _build(tmp_path)  # off: neither
    assert "--cache-from" not in FakePopen.calls[0]["argv"]
    assert "BUILDKIT_INLINE_CACHE=1" not in FakePopen.calls[0]["argv"]


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


class _Status(http.server.BaseHTTPRequestHandler):
    """Answers each GET with the next status of the server's script (the last one repeats)."""

    def do_GET(self):
        script = self.server.script  # type: ignore[attr-defined]
        status, headers = script.pop(0) if len(script) > 1 else script[0]
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def index_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    server.script = [(401, {})]  # type: ignore[attr-defined]
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/simple/"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_expired_token_fails_before_docker_runs(tmp_path, index_server):
    index = Index(index_server.url, index_server.url, "aws", "expired-token")
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


def test_an_unreachable_index_stops_the_build_before_docker_runs(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="jenkins_codeartifact")
    url = f"http://127.0.0.1:{containers.free_port()}/simple/"  # nothing listens
    sleeps: list[float] = []
    with pytest.raises(PreconditionError, match="index unreachable") as info:
        image.preflight_index(Index(url, url, "aws", "x-token"), "fantastic-ascii", sleep=sleeps.append)
    assert str(info.value).startswith(f"index unreachable: {url}fantastic-ascii/ could not be reached")
    assert "(connection refused), 3 attempts; nothing was built" in str(info.value)
    assert "publish" not in str(info.value) + (info.value.hint or "")
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # backoff with jitter
    assert caplog.text.count("index check ") == 2  # each retry on one line


def test_an_index_answering_5xx_is_retried_then_named(index_server):
    index_server.script = [(503, {})]
    url = index_server.url
    with pytest.raises(PreconditionError, match=r"unreachable: .*/simple/flask/ answered HTTP 503, 3 attempts"):
        image.preflight_index(Index(url, url, "aws", "t0ken"), "Flask", sleep=lambda s: None)
    assert index_server.seen == ["/simple/flask/"] * 3


def test_a_passing_5xx_burst_and_429_retry_after_are_survived(index_server):
    index_server.script = [(502, {}), (429, {"Retry-After": "3"}), (200, {})]
    sleeps: list[float] = []
    url = index_server.url
    image.preflight_index(Index(url, url, "aws", "t0ken"), "flask", sleep=sleeps.append, attempts=3)
    assert len(index_server.seen) == 3
    assert sleeps[1] >= 3  # Retry-After honoured


def test_a_project_the_index_does_not_have_is_left_to_pip(index_server):
    index_server.script = [(404, {})]
    url = index_server.url
    image.preflight_index(Index(url, url, "aws", "t0ken"), "not-published", sleep=lambda s: pytest.fail("retried"))
    assert index_server.seen == ["/simple/not-published/"]


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
