"""ca-publish when the index misbehaves: a faulty HTTP front in front of the sandbox's real devpi.

Each scenario asserts what a user (and the next pipeline stage) sees: the exit code, a time bound, the
ERROR line, and what is really on the index afterwards (read from devpi directly, past the front): the
release is whole or absent, never silently half, and the report says which.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests
from tests.fakes.faulty import FaultyFront, wait_until
from tests.helpers import fresh_package, sandbox_client

from jenkins_codeartifact import indexhttp
from jenkins_codeartifact.cli import publish

READ_TIMEOUT = 5.0  # the client's read timeout in these tests (60 s in production): devpi stores in < 5 s
RETRIES = 2


@pytest.fixture
def project(tmp_path):
    fresh = fresh_package(tmp_path, 3)
    return fresh.path, fresh.version


@pytest.fixture(scope="session")
def warm_devpi(sandbox_env, devpi_password):
    """devpi's first look-up of a project may consult its PyPI mirror (seconds); do it before the clocks run."""
    on_devpi(sandbox_env, devpi_password, "0", timeout=120)


@pytest.fixture
def front(sandbox_environ, warm_devpi, devpi_password, monkeypatch, tmp_path):
    """The front before devpi; ca-publish pointed at it as a generic index, with short timeouts."""
    with FaultyFront(sandbox_environ["CA_SANDBOX_DEVPI_URL"]) as f:
        path = urllib.parse.urlsplit(sandbox_environ["CA_SANDBOX_INDEX_URL"]).path
        for var in ("CA_DOMAIN", "CA_REPOSITORY", "CA_DOMAIN_OWNER"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("CA_REPOSITORY_URL", f.url + path)
        monkeypatch.setenv("CA_SIMPLE_URL", f.url + path + "+simple/")
        monkeypatch.setenv("CA_INDEX_USERNAME", "aws")
        monkeypatch.setenv("CA_INDEX_PASSWORD", devpi_password)
        monkeypatch.setattr(
            indexhttp, "POLICY", dataclasses.replace(indexhttp.POLICY, read=READ_TIMEOUT, retries=RETRIES, backoff=0.05)
        )
        monkeypatch.chdir(tmp_path)
        yield f


def on_devpi(env, password, version, timeout=30):
    """{file name: sha256} of fantastic-ascii ``version`` on devpi itself (not through the front)."""
    url = env["CA_SANDBOX_INDEX_URL"] + "+simple/fantastic-ascii/"
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    resp = requests.get(url, auth=("aws", password), headers=accept, timeout=timeout)
    if resp.status_code == 404:
        return {}
    resp.raise_for_status()
    return {f["filename"]: f["hashes"]["sha256"] for f in resp.json()["files"] if f"-{version}" in f["filename"]}


def run(capsys, project, tmp_path, *extra):
    report = tmp_path / "report.json"
    started = time.monotonic()
    code = publish.main([str(project), "--report", str(report), *extra])
    elapsed = time.monotonic() - started
    out = capsys.readouterr()
    output = out.out + out.err
    assert "Traceback" not in output
    return code, output, elapsed, json.loads(report.read_text())


def errors(output):
    return [line for line in output.splitlines() if line.startswith("ERROR")]


def assert_whole(env, password, version, data):
    """The report says uploaded/whole and devpi holds exactly the reported files with the reported bytes."""
    assert data["status"] == "ok" and data["outcome"] == "uploaded" and data["release"] == "whole", data
    assert on_devpi(env, password, version) == {f["filename"]: f["sha256"] for f in data["files"]}


# -- the version check (simple-API GET) ------------------------------------------------------------------


def test_get_hangs_before_headers(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("hang_before_headers", method="GET", path=r"\+simple/", times=None)
    code, output, elapsed, data = run(capsys, project[0], tmp_path)
    assert code == 1, output
    assert errors(output) == [f"ERROR: index unreachable: {os.environ['CA_SIMPLE_URL']}: no answer (read timed out)"], (
        output
    )
    assert elapsed < (RETRIES + 1) * READ_TIMEOUT + 15  # three bounded tries, plus the build it overlaps
    assert len(re.findall(r"no answer \(read timed out\); retry \d of 2", output)) == RETRIES
    assert data["status"] == "failed" and data["release"] == "unknown" and data["files"] == []
    assert on_devpi(sandbox_env, devpi_password, project[1]) == {}
    assert not (project[0] / "dist").exists()


def test_get_503_twice_then_answers(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("status", status=503, times=2, method="GET", path=r"\+simple/")
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert len(re.findall(r"HTTP 503; retry [12] of 2 in \d+\.\ds", output)) == 2
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_get_429_honours_retry_after(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("status", status=429, retry_after=2, times=1, method="GET", path=r"\+simple/")
    code, output, elapsed, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert "HTTP 429; retry 1 of 2 in 2.0s (Retry-After)" in output
    assert elapsed >= 2.0
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_get_500_persists_names_the_real_cause(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("status", status=500, times=None, method="GET", path=r"\+simple/")
    code, output, elapsed, data = run(capsys, project[0], tmp_path)
    assert code == 1, output
    (line,) = errors(output)
    assert line.startswith(f"ERROR: index unreachable: {os.environ['CA_SIMPLE_URL']} answered HTTP 500"), output
    assert "publish it first" not in output and "already published" not in output
    assert front.count("GET", r"\+simple/", "status") == RETRIES + 1
    assert elapsed < 30
    assert data["status"] == "failed" and on_devpi(sandbox_env, devpi_password, project[1]) == {}


def test_get_reset_mid_body_is_retried(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("reset_mid_body", times=1, method="GET", path=r"\+simple/")
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert re.search(r"index: GET .*\+simple/fantastic-ascii/: answer cut off; retry 1 of 2", output), output
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_get_slow_trickle_completes(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("trickle", bytes_per_second=4000, times=None, method="GET", path=r"\+simple/")
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert front.count("GET", r"\+simple/", "trickle") >= 1
    assert_whole(sandbox_env, devpi_password, project[1], data)


# -- the upload POST ---------------------------------------------------------------------------------------


def test_post_lands_but_never_answers_is_not_sent_again(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("hang_after_body", method="POST", forward=True, times=None)
    code, output, elapsed, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    # the outcome was asked for, not guessed: a file is sent again only if the index said it lacks it
    assert front.count("POST") == 2 + output.count("is not on the index: sending it once more")
    assert output.count("(the index has it, same sha256)") >= 1
    assert elapsed < READ_TIMEOUT + 20
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_post_swallowed_unlanded_is_sent_once_more(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("hang_before_headers", method="POST", times=2)
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert front.count("POST") == 4
    assert output.count("is not on the index: sending it once more") == 2
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_post_never_answers_nothing_is_half_there(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("hang_before_headers", method="POST", times=None)
    code, output, elapsed, data = run(capsys, project[0], tmp_path)
    assert code == 1, output
    (line,) = errors(output)
    assert re.fullmatch(
        r"ERROR: index unreachable / no answer \(read timed out\) while uploading fantastic_ascii-\S+ "
        r"\(sent twice; the index does not have it\)",
        line,
    ), line
    assert "upload to" in output and "done in" not in output.split("upload to", 1)[1]
    assert front.count("POST") == 4 and elapsed < 2 * READ_TIMEOUT + 20
    assert data["status"] == "failed" and data["release"] == "absent"
    assert not any(f["uploaded"] or f["on_index"] for f in data["files"])
    assert on_devpi(sandbox_env, devpi_password, project[1]) == {}


def test_post_503_then_passes(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("status", status=503, method="POST", times=2)
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert front.count("POST") == 4 and output.count("HTTP 503; asking the index whether it arrived") == 2
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_post_429_waits_for_retry_after(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("status", status=429, retry_after=1, method="POST", times=2)
    code, output, elapsed, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert output.count("HTTP 429 (too many requests); asking the index again in 1s") == 2
    assert front.count("POST") == 4 and elapsed >= 1
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_post_reset_mid_answer_after_landing(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    front.add("reset_mid_body", method="POST", times=2)
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert front.count("POST") == 2  # the answer's status line arrived, or the index was asked: never re-sent
    assert_whole(sandbox_env, devpi_password, project[1], data)


def test_rerun_after_lost_answer_skip_existing_whole(front, sandbox_env, devpi_password, project, capsys, tmp_path):
    """A run that died after its POST landed: the rerun with --skip-existing finds the same bytes."""
    front.add("hang_after_body", method="POST", forward=True, times=1)
    front.add("hang_before_headers", method="POST", times=None)
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 1 and data["release"] == "partial", output
    assert len(on_devpi(sandbox_env, devpi_password, project[1])) == 1
    front.clear()
    code, output, _, data = run(capsys, project[0], tmp_path, "--skip-existing")
    assert code == 0, output
    assert data["release"] == "whole" and sum(f["uploaded"] for f in data["files"]) == 1
    assert on_devpi(sandbox_env, devpi_password, project[1]) == {f["filename"]: f["sha256"] for f in data["files"]}


def test_skip_existing_on_a_whole_release_with_other_bytes_keeps_it(
    front, sandbox_env, devpi_password, project, capsys, tmp_path
):
    """Every file name is there: nothing is uploaded, exit 0, one line per file that differs."""
    assert run(capsys, project[0], tmp_path)[0] == 0
    published = on_devpi(sandbox_env, devpi_password, project[1])
    shutil.rmtree(project[0] / "dist")  # a fresh checkout: the rebuilt sdist differs (tar times)
    (project[0] / "README.md").write_text("changed\n")
    code, output, _, data = run(capsys, project[0], tmp_path, "--skip-existing")
    assert code == 0, output
    differ = [line for line in output.splitlines() if "the published file stays; this build differs" in line]
    assert len(differ) == 2 and all(line.startswith("WARNING") for line in differ), output
    assert data["outcome"] == "skipped" and not any(f["uploaded"] for f in data["files"])
    assert on_devpi(sandbox_env, devpi_password, project[1]) == published


# -- abort (SIGTERM / SIGINT) in each stage, in a real process -------------------------------------------------

SLOW_BACKEND = """
import os, time
def build_sdist(sdist_directory, config_settings=None):
    open(os.environ["STARTED"], "w").close()
    time.sleep(60)
    raise SystemExit(1)
"""


@pytest.mark.parametrize(
    ("stage", "signum"),
    [
        ("build", signal.SIGTERM),
        ("build", signal.SIGINT),
        ("version check", signal.SIGTERM),
        ("version check", signal.SIGINT),
        ("upload", signal.SIGTERM),
        ("upload", signal.SIGINT),
    ],
)
def test_abort_in_every_stage_within_5s(front, sandbox_env, project, tmp_path, stage, signum, capsys):
    path, version = project
    started_flag = tmp_path / "started"
    if stage == "build":
        (path / "pyproject.toml").write_text(
            '[build-system]\nrequires = []\nbuild-backend = "slow_backend"\nbackend-path = ["."]\n\n'
            f'[project]\nname = "fantastic-ascii"\nversion = "{version}"\n'
        )
        (path / "slow_backend.py").write_text(SLOW_BACKEND)
    elif stage == "version check":
        front.add("hang_before_headers", method="GET", path=r"\+simple/", times=None)
    else:
        front.add("hang_before_headers", method="POST", times=None)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    report = tmp_path / "report.json"
    env = {**os.environ, "TMPDIR": str(tmp), "STARTED": str(started_flag)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_codeartifact.cli.publish", str(path), "--report", str(report)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reached = {
            "build": lambda: started_flag.exists(),
            "version check": lambda: front.count("GET", r"\+simple/") >= 1,
            "upload": lambda: front.count("POST") >= 2,
        }[stage]
        assert wait_until(lambda: reached() or proc.poll() is not None, timeout=90) and proc.poll() is None
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signum)
        time.sleep(0.05)
        proc.send_signal(signum)  # Jenkins may signal again: the cleanup must not be cut short
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with capsys.disabled():
        print(f"\nabort during {stage} ({signal.Signals(signum).name}): exit {proc.returncode} in {took:.2f}s")
    assert proc.returncode == 128 + signum, err
    assert took < 5.0, err
    assert "Traceback" not in err
    data = json.loads(report.read_text())
    assert data["status"] == "aborted" and data["exit_code"] == 128 + signum
    assert not list(tmp.iterdir()), "temporary files left behind"
    if stage == "upload":  # the POSTs were in flight: the report cannot know, and says so
        assert data["release"] == "unknown" and all(f["on_index"] is None for f in data["files"])


# -- CodeArtifact mode: the stand-in's repository endpoint behind the front -------------------------------


@pytest.fixture
def ca_front(sandbox_environ, endpoint, monkeypatch, tmp_path):
    """ca-publish in CodeArtifact mode whose repository endpoint (upload + simple API) is behind the front.

    The API itself (token, endpoint, version check) is reached directly; only the endpoint it returns is
    swapped for the front's address, as a proxy between the agent and CodeArtifact would be.
    """
    from jenkins_codeartifact.publish import flow

    parts = urllib.parse.urlsplit(endpoint)
    with FaultyFront(f"{parts.scheme}://{parts.netloc}") as f:
        real = flow.resolve_index

        def through_front(settings):
            index = real(settings)
            moved = index.upload_url.replace(f"{parts.scheme}://{parts.netloc}", f.url)
            return dataclasses.replace(index, upload_url=moved, simple_url=moved + "simple/")

        monkeypatch.setattr(flow, "resolve_index", through_front)
        monkeypatch.setattr(indexhttp, "POLICY", dataclasses.replace(indexhttp.POLICY, read=READ_TIMEOUT, backoff=0.05))
        monkeypatch.chdir(tmp_path)
        yield f


def ca_assets(env, version):
    client = sandbox_client(env, "codeartifact")
    where = {
        "domain": env["CA_DOMAIN"],
        "domainOwner": env["CA_DOMAIN_OWNER"],
        "repository": env["CA_REPOSITORY"],
        "format": "pypi",
        "package": "fantastic-ascii",
        "packageVersion": version,
    }
    return {a["name"]: a["hashes"]["SHA-256"] for a in client.list_package_version_assets(**where)["assets"]}


def test_codeartifact_upload_lands_but_never_answers(ca_front, sandbox_env, project, capsys, tmp_path):
    ca_front.add("hang_after_body", method="POST", forward=True, times=None)
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert ca_front.count("POST") == 2 + output.count("is not on the index: sending it once more")
    assert data["release"] == "whole" and data["repository_url"].startswith(ca_front.url)
    assert ca_assets(sandbox_env, project[1]) == {f["filename"]: f["sha256"] for f in data["files"]}


def test_codeartifact_upload_503_then_passes(ca_front, sandbox_env, project, capsys, tmp_path):
    ca_front.add("status", status=503, method="POST", times=2)
    code, output, _, data = run(capsys, project[0], tmp_path)
    assert code == 0, output
    assert ca_front.count("POST") == 4 and data["release"] == "whole"
    assert ca_assets(sandbox_env, project[1]) == {f["filename"]: f["sha256"] for f in data["files"]}
