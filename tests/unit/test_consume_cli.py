"""ca-consume-deploy bad input and missing engine: one clear line, the right exit code, a report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import consume_deploy
from jenkins_codeartifact.consume import pipeline as consume
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
