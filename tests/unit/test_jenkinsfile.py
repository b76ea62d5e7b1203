"""The consumer Jenkinsfile: rendered from its spec, checked in without drift, strings escaped by one function."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers import tool_or_skip

from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.jobsync import jenkinsfile, jobspecs, model

ROOT = Path(__file__).resolve().parents[2]
JENKINSFILE = ROOT / "application_src" / "Jenkinsfile"


def consumer() -> model.Pipeline:
    job = jobspecs.load(ROOT / "jenkins" / "jobs").get("consumer")
    assert isinstance(job, model.Pipeline)
    return job


def groovy_unquote(literal: str) -> str:
    """Read a single-quoted Groovy string literal the way Groovy does (the escapes it defines)."""
    assert literal[0] == literal[-1] == "'" and len(literal) >= 2
    body, out, i = literal[1:-1], [], 0
    simple = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "$": "$"}
    while i < len(body):
        ch = body[i]
        assert ch != "'", f"unescaped quote ends the string early: {literal!r}"
        assert ch not in "\n\r", "a single-quoted Groovy string cannot span lines"
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(simple[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")


def test_checked_in_jenkinsfile_equals_the_rendering():
    assert JENKINSFILE.read_text(encoding="utf-8") == jenkinsfile.render(consumer()), (
        "application_src/Jenkinsfile drifted from jenkins/jobs/consumer.yml: run `jobsync render --write-jenkinsfiles`"
    )


def test_cli_check_jenkinsfiles(tmp_path):
    jobs = ROOT / "jenkins" / "jobs"
    assert jobsync.main(["render", "--check-jenkinsfiles", "--jobs-dir", str(jobs), "--root", str(ROOT)]) == 0
    assert jobsync.main(["render", "--check-jenkinsfiles", "--jobs-dir", str(jobs), "--root", str(tmp_path)]) == 1
    assert jobsync.main(["render", "--write-jenkinsfiles", "--jobs-dir", str(jobs), "--root", str(tmp_path)]) == 0
    assert (tmp_path / "application_src" / "Jenkinsfile").read_text() == JENKINSFILE.read_text()


def test_sync_reports_and_rewrites_only_drifted_files(tmp_path):
    specs = jobspecs.load(ROOT / "jenkins" / "jobs")
    target = tmp_path / "application_src" / "Jenkinsfile"
    assert jenkinsfile.sync(specs, tmp_path) == [target]  # missing counts as drifted; nothing written
    assert not target.exists()
    assert jenkinsfile.sync(specs, tmp_path, write=True) == [target]
    assert target.read_text(encoding="utf-8") == JENKINSFILE.read_text(encoding="utf-8")
    os.utime(target, (1, 1))
    assert jenkinsfile.sync(specs, tmp_path, write=True) == []
    assert target.stat().st_mtime == 1  # an up-to-date file is left alone
    target.write_text("// edited by hand\n", encoding="utf-8")
    assert jenkinsfile.sync(specs, tmp_path) == [target]
    assert jenkinsfile.sync(specs, ROOT) == []


def test_cli_write_and_check_are_exclusive(capsys):
    jobs = str(ROOT / "jenkins" / "jobs")
    assert jobsync.main(["render", "--write-jenkinsfiles", "--check-jenkinsfiles", "--jobs-dir", jobs]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_structure():
    text = jenkinsfile.render(consumer())
    stages = re.findall(r"stage\('([^']*)'\)", text)
    assert stages == ["Build", "Smoke test", "Push", "Deploy"]
    commands = re.findall(r"sh '([^']*)'", text)
    assert commands == [f"ca-consume-deploy {c}" for c in ("build", "smoke-test", "push", "deploy")]
    assert text.count("withCredentials([usernamePassword(credentialsId: 'aws',") == 4
    assert text.count("usernameVariable: 'AWS_ACCESS_KEY_ID'") == 4
    assert text.count("passwordVariable: 'AWS_SECRET_ACCESS_KEY'") == 4
    assert "timeout(time: 60, unit: 'MINUTES')" in text and "timestamps()" in text
    assert "environment {" in text and "CA_CONTEXT = 'application_src'" in text
    assert '"' not in text.split("pipeline {", 1)[1], "no double-quoted (interpolating) Groovy strings"


def test_environment_values_are_escaped():
    job = model.Pipeline(
        name="p",
        git=model.Git("u"),
        jenkinsfile=model.JenkinsfileSpec(environment=(("A", "it's ${x} \\ \n é"),)),
    )
    line = next(x for x in jenkinsfile.render(job).splitlines() if x.strip().startswith("A = "))
    assert groovy_unquote(line.split(" = ", 1)[1]) == "it's ${x} \\ \n é"


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("back\\slash", "'back\\\\slash'"),
        ("${NOT_INTERPOLATED}", "'${NOT_INTERPOLATED}'"),
        ("line\nbreak\r\t", "'line\\nbreak\\r\\t'"),
        ("é😀", "'\\u00e9\\ud83d\\ude00'"),
        ("", "''"),
    ],
)
def test_groovy_string(value, literal):
    assert jenkinsfile.groovy_string(value) == literal
    assert groovy_unquote(literal) == value


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_groovy_string_round_trips_anything(value):
    literal = jenkinsfile.groovy_string(value)
    assert literal.isascii()
    assert groovy_unquote(literal) == value


def _groovy_lint() -> str | None:
    installed = Path("/opt/groovylint/node_modules/.bin/npm-groovy-lint")  # where scripts/system-deps.sh puts it
    return (
        os.environ.get("NPM_GROOVY_LINT")
        or shutil.which("npm-groovy-lint")
        or (str(installed) if installed.exists() else None)
    )


def test_npm_groovy_lint_finds_no_error():
    lint = tool_or_skip(_groovy_lint(), "npm-groovy-lint@16 (set NPM_GROOVY_LINT)")
    proc = subprocess.run(
        [lint, "--failon", "error", "--noserver", "--path", str(JENKINSFILE.parent), "--files", "**/Jenkinsfile"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


PIPELINE = """\
jobs:
  - name: deploy
    type: pipeline
    git: {url: "https://git.example.com/app.git"}
    jenkinsfile: {credentials: aws}
    timeout: {minutes: 45, type: no-activity}
"""


def test_a_pipeline_timeout_is_the_jenkinsfile_timeout_option():
    (job,) = jobspecs.load_text(PIPELINE, "deploy.yml")
    assert isinstance(job, model.Pipeline)
    text = jenkinsfile.render(job)
    assert "        timeout(time: 45, unit: 'MINUTES', activity: true)\n" in text
    absolute = jobspecs.load_text(PIPELINE.replace(", type: no-activity", ""), "deploy.yml")[0]
    assert isinstance(absolute, model.Pipeline)
    assert "        timeout(time: 45, unit: 'MINUTES')\n" in jenkinsfile.render(absolute)
    assert "timeout(time: 60, unit: 'MINUTES')" in jenkinsfile.render(
        jobspecs.load_text(PIPELINE.replace("    timeout: {minutes: 45, type: no-activity}\n", ""), "d.yml")[0]  # type: ignore[arg-type]
    )
