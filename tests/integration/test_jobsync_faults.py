"""jobsync against the fake Jenkins behind the faulty front: hangs, 5xx bursts, 429, resets, SIGTERM.

Each scenario asserts what a user sees: the exit code, a time bound, the message, and that the
jobs on the server are exactly the ones the run (and its report) says it made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.fakes.faulty import FaultyFront, wait_until

from jenkins_codeartifact import netpolicy, redact
from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.jobsync import transport

JOBS = """\
folders:
  - name: team
jobs:
  - {name: producer, type: freestyle, shell: make}
  - {name: consumer, type: freestyle, shell: make test}
  - {name: team/a, type: freestyle, shell: a}
  - {name: team/b, type: freestyle, shell: b}
"""
ALL = ["consumer", "producer", "team", "team/a", "team/b"]


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    d = tmp_path / "jobs"
    d.mkdir()
    (d / "jobs.yml").write_text(JOBS, encoding="utf-8")
    return d


OWNER = "git.example.com/team-a/jobs"


@pytest.fixture
def front(fake, monkeypatch, tmp_path):
    """The faulty front before the fake Jenkins, with short timeouts so that every bound is seconds."""
    for var in [v for v in os.environ if v.startswith(("JENKINS_", "CA_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setattr(transport, "POLICY", dataclasses.replace(netpolicy.JENKINS, read=0.5, backoff=0.05))
    monkeypatch.chdir(tmp_path)
    with FaultyFront(fake.url.rstrip("/")) as f:
        monkeypatch.setenv("JENKINS_URL", f.url)
        monkeypatch.setenv("JENKINS_USER", fake.user)
        monkeypatch.setenv("JENKINS_API_TOKEN", fake.token)
        monkeypatch.setenv("CA_JOBSYNC_OWNER", OWNER)  # the specs are not in a git clone
        yield f
    redact.clear()


def apply(specs: Path, tmp_path: Path, *args: str) -> tuple[int, float, dict]:
    report = tmp_path / "report.json"
    start = time.monotonic()
    code = jobsync.main(["apply", "--jobs-dir", str(specs), "--report", str(report), *args])
    return code, time.monotonic() - start, json.loads(report.read_text())


def made(report: dict) -> list[str]:
    return sorted(c["name"] for c in report["changes"] if c["ok"])


def test_a_post_that_never_answers_is_bounded_read_back_and_reported(fake, front, specs, tmp_path, capsys):
    front.add("hang_before_headers", method="POST", path=r"createItem\?name=producer", times=None)
    code, took, report = apply(specs, tmp_path)
    assert code == 1 and took < 10
    err = capsys.readouterr().err
    assert "ERROR: producer: create: not applied: no answer within 0.5 s (4 attempts, each read back)" in err
    assert err.count("producer: create: no answer within 0.5 s and not applied (read back); retry ") == 3
    assert sorted(fake.items) == made(report) == [n for n in ALL if n != "producer"]
    assert report["status"] == "failed" and report["summary"].endswith("1 failed")


def test_a_post_that_landed_but_never_answered_is_not_sent_again(fake, front, specs, tmp_path, capsys):
    front.add("hang_after_body", method="POST", path=r"createItem\?name=producer", forward=True, times=None)
    code, took, report = apply(specs, tmp_path)
    assert code == 0 and took < 5
    assert "producer: create: no answer within 0.5 s, but reading it back shows it was applied" in (
        capsys.readouterr().err
    )
    assert front.count("POST", r"name=producer") == 1
    assert sorted(fake.items) == made(report) == ALL


def test_a_get_that_never_answers_once_is_retried_after_its_timeout(fake, front, specs, tmp_path, capsys):
    front.add("hang_before_headers", times=1, method="GET", path=r"/api/json\?tree=")
    code, took, report = apply(specs, tmp_path)
    assert code == 0 and 0.5 <= took < 5
    assert "WARNING: listing jobs: no answer within 0.5 s; retry 1 of 3 in" in capsys.readouterr().err
    assert sorted(fake.items) == made(report) == ALL


def test_get_503_twice_then_pass_is_retried_with_backoff(fake, front, specs, tmp_path, capsys):
    front.add("status", status=503, times=2, method="GET", path=r"/api/json\?tree=")
    code, took, report = apply(specs, tmp_path)
    assert code == 0 and took < 5
    retries = [line for line in capsys.readouterr().err.splitlines() if "; retry " in line]
    assert len(retries) == 2
    assert all(line.startswith("WARNING: listing jobs: HTTP 503: injected fault; retry ") for line in retries)
    assert sorted(fake.items) == made(report) == ALL


def test_get_503_for_ever_gives_up_in_bounded_time_without_writing(fake, front, specs, tmp_path, capsys):
    front.add("status", status=503, times=None, method="GET")
    code, took, report = apply(specs, tmp_path)
    assert code == 1 and took < 10
    err = capsys.readouterr().err
    assert f"ERROR: listing jobs: no usable answer from Jenkins at {front.url}/ after 4 attempts (HTTP 503" in err
    assert fake.items == {} and front.count("POST") == 0 and report["status"] == "failed"


def test_a_post_answered_503_is_read_back_then_sent_once_more(fake, front, specs, tmp_path, capsys):
    front.add("status", status=503, times=1, method="POST", path=r"createItem\?name=producer")
    code, took, report = apply(specs, tmp_path)
    assert code == 0 and took < 5
    assert "producer: create: HTTP 503: injected fault and not applied (read back); retry 1 of 3" in (
        capsys.readouterr().err
    )
    assert front.count("POST", r"name=producer", "status") == 1 and front.count("POST", r"name=producer", "pass") == 1
    assert sorted(fake.items) == made(report) == ALL


def test_an_update_answered_503_is_read_back_by_its_whole_config(fake, front, specs, tmp_path, capsys):
    """A repair keeps the description: only the config read back tells whether the POST landed."""
    assert apply(specs, tmp_path)[0] == 0
    wanted = fake.config("producer")
    fake.put("producer", wanted.replace("<command>make</command>", "<command>make || true</command>"))
    front.add("status", status=502, times=1, method="POST", path=r"job/producer/config\.xml")
    code, took, report = apply(specs, tmp_path, "--verify")
    assert code == 0 and took < 5 and made(report) == ["producer"]
    assert "producer: update: HTTP 502: injected fault and not applied (read back); retry 1 of 3" in (
        capsys.readouterr().err
    )
    assert front.count("POST", r"job/producer/config\.xml") == 2
    assert "|| true" not in fake.config("producer")


def test_429_retry_after_is_honoured(fake, front, specs, tmp_path, capsys):
    front.add("status", status=429, retry_after=1, times=1, method="GET")
    code, took, report = apply(specs, tmp_path)
    assert code == 0 and 1.0 <= took < 5
    assert "listing jobs: HTTP 429: injected fault; retry 1 of 3 in 1.0s (Retry-After)" in capsys.readouterr().err
    assert sorted(fake.items) == made(report) == ALL


def test_a_trickling_answer_is_bounded_by_its_deadline(fake, front, specs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(transport, "ANSWER_DEADLINE", 1.0)  # each byte comes in time; the whole answer does not
    front.add("trickle", bytes_per_second=20, times=None, method="GET", path=r"/api/json\?tree=")
    code, took, report = apply(specs, tmp_path)
    assert code == 1 and took < 10
    err = capsys.readouterr().err
    assert "ERROR: listing jobs: no usable answer from Jenkins at" in err
    assert "after 4 attempts (answer not complete within 1 s)" in err
    assert fake.items == {} and front.count("POST") == 0 and report["status"] == "failed"


def test_a_reset_mid_body_is_retried(fake, front, specs, tmp_path, capsys):
    front.add("reset_mid_body", times=1, method="GET", path=r"/api/json\?tree=")
    code, took, report = apply(specs, tmp_path)
    assert code == 0 and took < 5
    assert re.search(r"WARNING: listing jobs: answer cut off \(\w+\); retry \d of 3 in", capsys.readouterr().err)
    assert front.count("GET", r"/api/json\?tree=") == 2
    assert sorted(fake.items) == made(report) == ALL


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_apply_within_5s_with_a_report_of_what_was_done(fake, specs, tmp_path, signum, exit_code):
    """Jenkins aborts the build while a POST hangs: exit 143 at once, and the report tells the truth."""
    with FaultyFront(fake.url.rstrip("/")) as front:
        front.add("hang_before_headers", method="POST", path=r"job/team/createItem\?name=b", times=None)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JENKINS_", "CA_"))}
        env.update(JENKINS_URL=front.url, JENKINS_USER=fake.user, JENKINS_API_TOKEN=fake.token, CA_WORKERS="2")
        env["CA_JOBSYNC_OWNER"] = OWNER
        report = tmp_path / "report.json"
        command = [sys.executable, "-m", "jenkins_codeartifact.cli.jobsync", "apply", "--jobs-dir", str(specs)]
        proc = subprocess.Popen(
            [*command, "--report", str(report)], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
        )
        try:
            assert wait_until(lambda: front.count("POST", r"job/team/createItem\?name=b") == 1, timeout=20)
            start = time.monotonic()
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=10)
            took = time.monotonic() - start
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == exit_code and took < 5, err
    data = json.loads(report.read_text())
    assert data["status"] == "aborted" and data["aborted"] is True
    assert "team/b" in data["in_flight"] and "team/b" not in fake.items
    assert "ERROR: jobsync apply aborted:" in err and "in flight (may or may not be applied)" in err
    # every job the report says was made is on the server, and nothing else is but what was in flight
    assert set(made(data)) <= set(fake.items) <= set(made(data)) | set(data["in_flight"])
    assert set(data["not_attempted"]) & set(fake.items) == set()
