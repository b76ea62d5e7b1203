"""``jobsync run`` with the typed core: parameters (-p, defaults, choices), secret text / file / SSH / AWS
bindings masked, the build timeout, and refusals of what cannot run here (raw steps, whole-raw items)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.jobsync import jobspecs, run

SPECS = """\
jobs:
  - name: deploy
    type: freestyle
    label: linux
    parameters:
      - {name: TARGET, type: choice, choices: [staging, production]}
      - {name: DRY_RUN, type: boolean, default: true}
      - {name: VERSION, default: " 1.0 ", trim: true}
    bindings:
      - {type: secret-text, credentials: slack, variable: SLACK_TOKEN}
      - {type: secret-file, credentials: kubeconfig, variable: KUBECONFIG}
      - {type: ssh-key, credentials: deploy-key, variable: KEY_FILE, username: KEY_USER}
      - {type: aws, credentials: aws, access_key: AWS_ACCESS_KEY_ID, secret_key: AWS_SECRET_ACCESS_KEY}
    timeout: {minutes: 2}
    shell:
      - 'echo "params: $TARGET|$DRY_RUN|$VERSION"'
      - 'echo "secrets: $SLACK_TOKEN $AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY user=$KEY_USER"'
      - >-
        echo "file: $(cat "$KUBECONFIG") mode=$(stat -c %a "$KUBECONFIG")"; cat "$KEY_FILE"; echo "$KUBECONFIG" > where
  - name: maven
    type: freestyle
    shell: make
    raw: {builders: "<hudson.tasks.Maven><targets>verify</targets></hudson.tasks.Maven>"}
  - name: matrix
    type: raw
    xml: <matrix-project><description/></matrix-project>
  - name: branches
    type: multibranch
    git: {url: "https://git.example.com/app.git"}
"""
CREDENTIALS = """\
slack: {secret: xoxb-slack-secret-value}
kubeconfig: {secret: "apiVersion: v1 kube-secret-content"}
deploy-key: {username: git, private_key: "-----BEGIN KEY----- ssh-secret-key-body"}
aws: {access_key: AKIAEXAMPLEKEY0001, secret_key: aws-secret-key-value-0001}
"""
SECRETS = ("xoxb-slack-secret-value", "kube-secret-content", "ssh-secret-key-body", "AKIAEXAMPLEKEY0001")


@pytest.fixture
def world(tmp_path, monkeypatch):
    for var in ("CA_CREDENTIALS_FILE", "CA_STATE_DIR", "CA_REPORT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "jobs.yml").write_text(SPECS, encoding="utf-8")
    creds = tmp_path / "credentials.yml"
    creds.write_text(CREDENTIALS, encoding="utf-8")
    os.chmod(creds, 0o600)
    return tmp_path


def main(world: Path, *argv: str) -> int:
    return jobsync.main(
        ["run", *argv, "--jobs-dir", str(world / "jobs"), "--state-dir", str(world / "state"),
         "--credentials", str(world / "credentials.yml")]
    )  # fmt: skip


def test_parameters_and_every_binding_type_masked(world, capsys, caplog):
    assert main(world, "deploy", "-p", "TARGET=production", "-p", "VERSION= 2.0 ") == 0
    out = capsys.readouterr().out
    assert "params: production|true|2.0" in out  # the choice given, the boolean's default, trimmed text
    assert "secrets: **** **** **** user=****" in out  # bound values are masked, usernames too
    assert "file: **** mode=600" in out
    assert not any(s in out for s in SECRETS)
    log = (world / "state" / "jobs" / "deploy" / "builds" / "1" / "log").read_text(encoding="utf-8")
    assert not any(s in log for s in SECRETS)
    secret_file = Path((world / "state" / "workspace" / "deploy" / "where").read_text().strip())
    assert not secret_file.exists()  # removed when the build ends, as the binding plugin does
    assert "label 'linux' is ignored" in caplog.text


def test_defaults_when_no_parameter_is_given(world, capsys):
    assert main(world, "deploy") == 0
    assert "params: staging|true|1.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("deploy", "-p", "TARGET=prod"), "--param TARGET=prod: expected one of staging, production"),
        (("deploy", "-p", "DRY_RUN=yes"), "--param DRY_RUN=yes: expected true or false"),
        (("deploy", "-p", "TAGRET=staging"), "--param TAGRET: not a parameter of the job (it has: TARGET,"),
        (("maven",), "raw builders <hudson.tasks.Maven> is a plugin's step"),
        (("matrix",), "kept as raw XML (<matrix-project>)"),
        (("branches",), "is a multibranch pipeline: its branch jobs are Jenkins'"),
    ],
)
def test_refusals_exit_2_before_anything_runs(world, capsys, argv, needle):
    assert main(world, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and needle in err, err
    assert not (world / "state" / "workspace").exists()


def test_build_timeout_is_the_builds_deadline(world):
    job = jobspecs.load(world / "jobs").get("deploy")
    assert isinstance(job, jobspecs.Freestyle)
    creds = run.load_credentials(world / "credentials.yml")
    assert run.plan(job, creds, None).timeout == 120.0
