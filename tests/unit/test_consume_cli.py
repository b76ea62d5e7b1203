"""ca-consume-deploy bad input and missing engine: one clear line, the right exit code, a report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import docker.errors
import pytest

from jenkins_codeartifact import signals
from jenkins_codeartifact.cli import consume_deploy
from jenkins_codeartifact.consume import changeset, containers, image, local_target, smoke
from jenkins_codeartifact.consume import pipeline as consume
from jenkins_codeartifact.consume import registry as registries
from jenkins_codeartifact.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in (
        "CA_DOMAIN",
        "CA_REPOSITORY",
        "CA_REPOSITORY_URL",
        "CA_CONFIG",
        "CA_TAG",
        "BUILD_NUMBER",
        "CA_TARGET",
        "CA_STACK",
        "CA_PARAMS",
        "CA_REGISTRY",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def app(clean_env):
    dest = clean_env / "app"
    shutil.copytree(ROOT / "application_src", dest, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    return dest


def errors(capsys):
    captured = capsys.readouterr()
    return [line for line in captured.err.splitlines() if line.startswith(("ERROR", "TIP"))], captured.out


def test_missing_dockerfile(clean_env, capsys):
    assert consume_deploy.main(["build", "--tag", "1", "--context", str(clean_env)]) == 2
    lines, out = errors(capsys)
    assert lines[0] == f"ERROR: {clean_env / 'Dockerfile'}: no Dockerfile"
    assert out == ""


def test_no_tag(app, capsys):
    assert consume_deploy.main(["build", "--context", str(app)]) == 2
    assert errors(capsys)[0][0] == "ERROR: no image tag"


def test_build_number_is_the_default_tag(app, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BUILD_NUMBER", "41")
    report = tmp_path / "r.json"
    assert consume_deploy.main(["smoke-test", "--report", str(report)]) == 3  # no engine at DOCKER_HOST
    assert json.loads(report.read_text())["image"] == "application:41"


@pytest.mark.parametrize("param", ["ImageTag", "=x", "noequals"])
def test_malformed_param(app, capsys, param):
    args = ["deploy", "--tag", "1", "--stack", "s", "--param", "VPC=vpc-1", "--param", param]
    assert consume_deploy.main(args) == 2
    assert errors(capsys)[0][0] == f"ERROR: --param {param!r}: expected KEY=VALUE"


def test_malformed_param_from_env(app, monkeypatch, capsys):
    monkeypatch.setenv("CA_PARAMS", "VPC=vpc-1;oops")
    assert consume_deploy.main(["deploy", "--tag", "1", "--stack", "s"]) == 2
    assert "--param 'oops'" in errors(capsys)[0][0]


def test_unknown_target(app, capsys):
    assert consume_deploy.main(["all", "--tag", "1", "--target", "ecs"]) == 2
    lines, _ = errors(capsys)
    assert lines == ["ERROR: --target 'ecs': unknown target", "TIP: choose one of: cloudformation, local"]


def test_unknown_target_from_env(app, monkeypatch, capsys):
    monkeypatch.setenv("CA_TARGET", "kubernetes")
    assert consume_deploy.main(["deploy", "--tag", "1"]) == 2
    lines, out = errors(capsys)
    assert lines == ["ERROR: --target 'kubernetes': unknown target", "TIP: choose one of: cloudformation, local"]
    assert out == ""


def test_cloudformation_needs_a_stack(app, capsys):
    assert consume_deploy.main(["deploy", "--tag", "1"]) == 2
    assert errors(capsys)[0] == ["ERROR: no stack name", "TIP: pass --stack or set CA_STACK"]


def test_unknown_subcommand(capsys):
    assert consume_deploy.main(["ship"]) == 2
    assert "invalid choice: 'ship'" in errors(capsys)[0][0]


def test_bad_tag(app, capsys):
    assert consume_deploy.main(["build", "--tag", "a b", "--context", str(app)]) == 2
    lines, _ = errors(capsys)
    assert lines[0] == "ERROR: --tag 'a b': not a valid image tag"
    assert len([line for line in lines if line.startswith("ERROR")]) == 1


def test_engine_absent_is_a_precondition_with_a_report(app, tmp_path, capsys):
    report = tmp_path / "out" / "report.json"
    assert consume_deploy.main(["smoke-test", "--tag", "3", "--report", str(report)]) == 3
    lines, _ = errors(capsys)
    assert lines[0].startswith("ERROR: the Docker engine is not reachable")
    assert lines[1].startswith("TIP: start the Docker engine")
    data = json.loads(report.read_text())
    assert data["status"] == "failed"
    assert data["command"] == "smoke-test"
    assert data["error"]["exit_code"] == 3


def test_unexpected_error_is_a_failure_in_the_report(app, monkeypatch, tmp_path, capsys):
    def bug(self, command):
        raise KeyError("oops")

    monkeypatch.setattr(consume.Stages, "run", bug)
    report = tmp_path / "r.json"
    assert consume_deploy.main(["build", "--tag", "1", "--report", str(report)]) == 1
    assert errors(capsys)[0][0] == "ERROR: unexpected KeyError: 'oops'"
    data = json.loads(report.read_text())
    assert data["status"] == "failed"
    assert data["error"] == {"message": "unexpected KeyError: 'oops'", "exit_code": 1}


@pytest.mark.parametrize("where", ["under-a-file", "a-directory"])
def test_a_report_path_that_cannot_be_written_stops_before_any_stage(app, monkeypatch, tmp_path, capsys, where):
    ran = []
    monkeypatch.setattr(consume.Stages, "run", lambda self, command: ran.append(command))
    blocker = tmp_path / "file"
    blocker.write_text("")
    report = blocker / "r.json" if where == "under-a-file" else tmp_path
    assert consume_deploy.main(["build", "--tag", "1", "--report", str(report)]) == 2
    why = "is a directory" if report == tmp_path else f"{blocker} is not a directory"
    assert [line for line in errors(capsys)[0] if line.startswith("ERROR")] == [f"ERROR: --report {report}: {why}"]
    assert ran == []


def test_teardown_needs_no_tag(clean_env, capsys):
    assert consume_deploy.main(["teardown", "--target", "local"]) == 3  # gets as far as the (absent) engine


def test_parse_params():
    assert consume.parse_params(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(ConfigError):
        consume.parse_params(["A"])


def test_summary_lines():
    record = {
        "image": "application:5",
        "build": {"image_id": "sha256:1"},
        "push": {"reference": "r/application:5", "digest": "sha256:2"},
        "deploy": {"target": "cloudformation", "status": "UPDATE_COMPLETE", "changed": False, "url": "http://x"},
    }
    assert consume.summary(record) == [
        "IMAGE=application:5",
        "IMAGE_ID=sha256:1",
        "PUSHED=r/application:5",
        "DIGEST=sha256:2",
        "DEPLOYED=cloudformation:UPDATE_COMPLETE (no changes)",
        "URL=http://x",
    ]


# ------------------------------------------------------------------------------------------ bad input


@pytest.fixture
def world(monkeypatch):
    """Every action that changes the world (engine, build, smoke test, push, deploy), recorded, never done."""
    done: list[str] = []

    def act(name):
        def call(*args, **kw):
            done.append(name)
            raise AssertionError(f"{name} must not run on bad input")

        return call

    monkeypatch.setattr(containers, "engine", act("engine"))
    monkeypatch.setattr(image, "build", act("build"))
    monkeypatch.setattr(containers, "smoke_test", act("smoke_test"))
    monkeypatch.setattr(registries, "push", act("push"))
    monkeypatch.setattr(changeset, "deploy_stack", act("deploy_stack"))
    monkeypatch.setattr(changeset, "create_stack_without_image", act("create_stack"))
    monkeypatch.setattr(local_target, "deploy_local", act("deploy_local"))
    return done


def _bad_template(kind: str, where: Path) -> str:
    path = where / f"{kind}.yml"
    if kind == "dir":
        path.mkdir()
    elif kind == "big":
        path.write_text("Parameters: {}\n" + "#" * 52000 + "\n")
    elif kind == "latin1":
        path.write_bytes(b"Description: caf\xe9\n")
    return str(path)


PASSWORD = "s3cr3t-registry-pw"
BAD_INPUT = [
    # (id, argv after the subcommand's --context, exit code, what the one ERROR line must say)
    ("tag", ["build", "--tag", "a b"], 2, "--tag 'a b': not a valid image tag"),
    ("no-tag", ["build"], 2, "no image tag"),
    ("image-name", ["build", "--tag", "1", "--image-name", "App!"], 2, "--image-name 'App!': not a valid image name"),
    ("network", ["all", "--tag", "1", "--network", "overlay"], 2, "--network 'overlay': must be one of host, bridge"),
    ("target", ["all", "--tag", "1", "--target", "ecs"], 2, "--target 'ecs': unknown target"),
    ("param", ["all", "--tag", "1", "--stack", "s", "--param", "noequals"], 2, "--param 'noequals': expected KEY"),
    ("no-stack", ["all", "--tag", "1"], 2, "no stack name"),
    (
        "template-missing",
        ["all", "--tag", "1", "--stack", "s", "--template", "/nonexistent/t.yml"],
        2,
        "--template /nonexistent/t.yml: cannot read: No such file or directory",
    ),
    ("template-dir", ["all", "--tag", "1", "--stack", "s", "--template", "@dir"], 2, "dir.yml: cannot read"),
    ("template-big", ["all", "--tag", "1", "--stack", "s", "--template", "@big"], 2, "over CloudFormation's 51,200"),
    ("template-latin1", ["all", "--tag", "1", "--stack", "s", "--template", "@latin1"], 2, "latin1.yml: not UTF-8"),
    (
        "registry-password",
        ["all", "--tag", "1", "--target", "local", "--registry", f"http://u:{PASSWORD}@h:5000"],
        2,
        "--registry 'http://u:***@h:5000': credentials in the registry URL are not accepted",
    ),
    ("registry-space", ["push", "--tag", "1", "--registry", "a b"], 2, "--registry 'a b': expected host[:port]"),
    ("registry-port", ["push", "--tag", "1", "--registry", "h:99999"], 2, "--registry 'h:99999': not a valid port"),
    (
        "push-retries",
        ["push", "--tag", "1", "--registry", "h:5000", "--push-retries", "0"],
        2,
        "--push-retries 0: must be at least 1",
    ),
    ("smoke-path", ["smoke-test", "--tag", "1", "--smoke-path", "healthz"], 2, "--smoke-path 'healthz': must start"),
    ("smoke-timeout", ["smoke-test", "--tag", "1", "--smoke-timeout", "0"], 2, "--smoke-timeout 0: must be more"),
    (
        "local-port",
        ["deploy", "--tag", "1", "--target", "local", "--local-port", "70000"],
        2,
        "--local-port 70000: not a TCP port",
    ),
    (
        "container-port",
        ["all", "--tag", "1", "--target", "local", "--container-port", "0"],
        2,
        "--container-port 0: not a TCP port",
    ),
    (
        "context-missing",
        ["build", "--tag", "1", "--context", "/nonexistent/app"],
        2,
        "--context /nonexistent/app: not a directory",
    ),
    ("no-index", ["build", "--tag", "1"], 2, "missing --domain and --repository"),
    (
        "index-scheme",
        ["build", "--tag", "1", "--repository-url", "ftp://index/"],
        2,
        "--repository-url 'ftp://index/': must be an http(s) URL",
    ),
]


@pytest.mark.parametrize(("argv", "code", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_and_nothing_is_done(app, world, tmp_path, capsys, argv, code, message):
    args = [_bad_template(a[1:], tmp_path) if a.startswith("@") else a for a in argv]
    if "--context" not in args:
        args += ["--context", str(app)]
    report = tmp_path / "report.json"
    assert consume_deploy.main([*args, "--report", str(report)]) == code
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, captured.err
    assert message in errors[0], errors[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert PASSWORD not in captured.err + report.read_text()
    assert world == []  # nothing built, tested, pushed or deployed
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_code"]) == ("failed", code)
    assert not any(key in data for key in ("build", "smoke_test", "push", "deploy"))


class _Engine:
    """Just enough engine for a smoke test: the image exists, containers are created, got and removed."""

    def __init__(self):
        self.by_name: dict[str, object] = {}
        engine = self

        class Handle:
            def __init__(self, name):
                self.name, self.status = name, "running"

            def start(self):
                pass

            def reload(self):
                pass

            def remove(self, force=False):
                engine.by_name.pop(self.name, None)

        class Containers:
            def create(self, ref, **kw):
                engine.by_name[kw["name"]] = Handle(kw["name"])
                return engine.by_name[kw["name"]]

            def get(self, name):
                if name not in engine.by_name:
                    raise docker.errors.NotFound(name)
                return engine.by_name[name]

        class Images:
            def get(self, ref):
                return object()

        self.containers, self.images = Containers(), Images()


def test_an_abort_reports_exactly_what_it_cleaned_up(app, monkeypatch, tmp_path, capsys):
    engine = _Engine()
    monkeypatch.setattr(containers, "engine", lambda factory=None: engine)

    def aborted(url, timeout, **kw):
        raise signals.Terminated  # Jenkins' abort while the smoke test polls

    monkeypatch.setattr(smoke, "poll", aborted)
    report = tmp_path / "r.json"
    assert consume_deploy.main(["smoke-test", "--tag", "1", "--report", str(report)]) == 143
    last = capsys.readouterr().err.strip().splitlines()[-1]
    data = json.loads(report.read_text())
    (what,) = data["cleaned_up"]
    assert what.startswith("removed the smoke test container ca-smoke-")
    assert last == f"ERROR: terminated (SIGTERM); cleaned up: {what}"
    assert (data["status"], data["exit_code"]) == ("aborted", 143)
    assert engine.by_name == {}


def test_an_abort_with_nothing_to_clean_up_says_so(app, monkeypatch, tmp_path, capsys):
    def aborted(self):
        raise signals.Terminated

    monkeypatch.setattr(consume.Stages, "smoke_test", aborted)
    report = tmp_path / "r.json"
    assert consume_deploy.main(["smoke-test", "--tag", "1", "--report", str(report)]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == "ERROR: terminated (SIGTERM); nothing to clean up"
    assert json.loads(report.read_text())["cleaned_up"] == []


def test_a_dockerfile_that_installs_from_public_pypi_stops_all_before_anything(app, world, tmp_path, capsys):
    """The walkthrough's Dockerfile: no secret, pip goes to PyPI. One ERROR naming the line, exit 2."""
    dockerfile = app / "Dockerfile"
    dockerfile.write_text("FROM python:3.12-slim\nCOPY . /\nRUN pip install -r requirements.txt\n")
    report = tmp_path / "report.json"
    argv = ["all", "--tag", "1", "--target", "local", "--context", str(app), "--report", str(report)]
    assert consume_deploy.main(argv) == 2
    lines, out = errors(capsys)
    assert lines[0] == (
        f"ERROR: {dockerfile}:3: `pip install -r requirements.txt` does not mount the pipconf secret: "
        "it would install from public PyPI"
    )
    assert lines[1].startswith("TIP: add --mount=type=secret,id=pipconf,target=/etc/pip.conf to that RUN")
    assert out == "" and world == []
    assert json.loads(report.read_text())["exit_code"] == 2
