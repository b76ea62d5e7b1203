"""ca-consume-deploy when the world misbehaves, against the real stand-ins behind the faulty front, and when
Jenkins aborts it: each test asserts the exit code, the time bound, the message, and that nothing was left
half-done (no image from a failed check, no tag from a failed push, no secret, container or build left).

The abort tests run the CLI as a child process and send it real SIGTERMs; they print the measured abort
time of each stage (``-s`` shows them).
"""

# ruff: noqa: F811  (the fixtures imported from test_consume are named again as test parameters)
from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import docker
import pytest
from tests.fakes.faulty import FaultyFront
from tests.integration.test_consume import APP, ROOT, cleanup, cli, env, names, published, registry_tags  # noqa: F401

from jenkins_codeartifact import netpolicy
from jenkins_codeartifact.consume import containers, pipconf, registry, smoke

pytestmark = pytest.mark.docker


@pytest.fixture
def index(env, endpoint, token, monkeypatch):
    """The index behind a faulty front: the CLI reaches it with --repository-url and the token."""
    parts = urllib.parse.urlsplit(endpoint)
    with FaultyFront(f"{parts.scheme}://{parts.netloc}") as front:
        monkeypatch.setenv("CA_INDEX_USERNAME", "aws")
        monkeypatch.setenv("CA_INDEX_PASSWORD", token)
        front.index_url = front.url + parts.path  # type: ignore[attr-defined]
        yield front


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    """TMPDIR of this test only, so a secret left behind would be seen."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    yield tmp
    monkeypatch.setattr("tempfile.tempdir", None)


def fresh_app(dest: Path, nonce: str) -> Path:
    """application_src with a requirements.txt no earlier build had, so pip really runs (no cached layer)."""
    shutil.copytree(APP, dest, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    with (dest / "requirements.txt").open("a") as fh:
        fh.write(f"# {nonce}\n")
    return dest


def secrets_left(tmp: Path) -> list[Path]:
    return list(tmp.glob(pipconf.PREFIX + "*"))


def images_named(name: str) -> list[object]:
    return docker.from_env().images.list(name=name)


# ----------------------------------------------------------------------------------- faults, in process


def test_index_answering_503_stops_before_the_build(index, names, tmpdir_env, capsys):
    index.add("status", status=503, times=None, method="GET", path=r"/simple/")
    started = time.monotonic()
    code, _, err = cli(
        capsys,
        "build",
        "--context",
        APP,
        "--image-name",
        names["image"],
        "--tag",
        names["tag"],
        "--repository-url",
        index.index_url,
    )
    elapsed = time.monotonic() - started
    assert code == 3, err
    assert elapsed < 15
    (error,) = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert re.fullmatch(
        r"ERROR: index unreachable: http://\S+/simple/fantastic-ascii/ answered HTTP 503, "
        r"3 attempts; nothing was built",
        error,
    ), error
    assert "publish it first" not in err
    assert len(re.findall(r"WARNING: index check \S+: .*; retry [12] of 2 in", err)) == 2  # one line each
    assert not images_named(names["image"]) and not secrets_left(tmpdir_env)


def test_index_that_hangs_is_bounded_and_named(index, names, tmpdir_env, capsys, monkeypatch):
    monkeypatch.setattr(netpolicy, "INDEX_CHECK", dataclasses.replace(netpolicy.INDEX_CHECK, connect=2.0, read=2.0))
    index.add("hang_before_headers", times=None, method="GET", path=r"/simple/")
    started = time.monotonic()
    code, _, err = cli(
        capsys,
        "build",
        "--context",
        APP,
        "--image-name",
        names["image"],
        "--tag",
        names["tag"],
        "--repository-url",
        index.index_url,
    )
    elapsed = time.monotonic() - started
    assert code == 3, err
    assert elapsed < 15  # 3 x 2 s + backoff
    assert "did not answer within 2s, 3 attempts; nothing was built" in err
    assert not images_named(names["image"]) and not secrets_left(tmpdir_env)


def test_index_page_cut_off_mid_body_is_retried_by_the_installer(published, index, names, cleanup, tmpdir_env, capsys):
    # The check before the build reads only the status line; the installer reads the page and gets it cut
    # off. uv (the application's Dockerfile installs with it) notices the short body and retries, with the
    # retries the pip.conf secret gives it, so the build succeeds (Debian's pip parsed what came and
    # stopped with a traceback, which the build's error then named).
    index.add("reset_mid_body", times=2, method="GET", path=r"/simple/fantastic-ascii/")
    context = fresh_app(tmpdir_env.parent / "app", names["tag"])
    started = time.monotonic()
    code, _, err = cli(
        capsys,
        "build",
        "--context",
        context,
        "--image-name",
        names["image"],
        "--tag",
        names["tag"],
        "--repository-url",
        index.index_url,
    )
    assert code == 0, err
    assert time.monotonic() - started < 180
    assert index.count(fault="reset_mid_body") == 2
    assert "Installed 10 packages" in err  # the dependencies came through the faulty index, not a cache
    assert images_named(names["image"]) and not secrets_left(tmpdir_env)


@pytest.fixture
def built(published, names, cleanup, capsys):
    """The application image of this test, built against the sandbox's index (cached layers after the first)."""
    code, _, err = cli(capsys, "build", "--context", APP, "--image-name", names["image"], "--tag", names["tag"])
    assert code == 0, err
    return f"{names['image']}:{names['tag']}"


@pytest.fixture
def registry_front(env):
    with FaultyFront(f"http://{env['CA_REGISTRY']}") as front:
        front.host = f"127.0.0.1:{front.port}"  # type: ignore[attr-defined]
        yield front


def test_registry_503_bursts_are_survived(built, names, registry_front, env, capsys):
    registry_front.add("status", status=503, times=2, path=r"^/v2/")  # the tag check's GETs, then the engine's
    started = time.monotonic()
    code, out, err = cli(
        capsys,
        "push",
        "--image-name",
        names["image"],
        "--tag",
        names["tag"],
        "--registry",
        registry_front.host,
        "--push-retries",
        "4",
    )
    assert code == 0, err
    assert time.monotonic() - started < 60
    assert registry_front.count(fault="status") == 2
    assert (
        len(re.findall(r"^WARNING: .*: answered HTTP 503; retry \d of \d in \d+\.\ds$", err, re.M)) == 2
    )  # one line each
    assert names["tag"] in registry_tags(env, names["image"])  # the registry behind the front has it
    assert f"PUSHED={registry_front.host}/{names['image']}:{names['tag']}" in out


def test_registry_that_hangs_fails_in_bounded_time_and_deploys_nothing(
    built, names, registry_front, env, capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr(registry, "PUSH_STALL", 5.0)
    # the tag check's GET passes (the tag is new); the engine's uploads hang
    registry_front.add("hang_before_headers", times=None, method="HEAD")
    registry_front.add("hang_before_headers", times=None, method="POST")
    report = tmp_path / "r.json"
    started = time.monotonic()
    code, _out, err = cli(
        capsys,
        "push",
        "--image-name",
        names["image"],
        "--tag",
        names["tag"],
        "--registry",
        registry_front.host,
        "--push-retries",
        "2",
        "--report",
        report,
    )
    elapsed = time.monotonic() - started
    assert code == 1, err
    assert elapsed < 60
    assert re.search(r"ERROR: push of \S+ failed after 2 attempts: ", err), err
    assert "done in" not in err.split("push ", 1)[1]
    assert names["tag"] not in registry_tags(env, names["image"])
    data = json.loads(report.read_text())
    assert data["status"] == "failed" and "push" not in data and "deploy" not in data


# ------------------------------------------------------------------------------ abort (real SIGTERMs)


class Child:
    """The CLI as a child process; its stderr lines collected as they come."""

    def __init__(self, args: list[str], tmp: Path):
        child_env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"), TMPDIR=str(tmp))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jenkins_codeartifact.cli.consume_deploy", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"never saw {pattern!r}:\n" + "\n".join(self.lines[-30:]))

    def abort(self, twice: bool = True) -> float:
        """SIGTERM (and a second one 10-100 ms later, as Jenkins' abort button does); seconds until exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        if twice:
            time.sleep(random.uniform(0.01, 0.1))
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(5)
        return time.monotonic() - started


def report_of(path: Path) -> dict:
    return json.loads(path.read_text())


def test_abort_during_a_silent_build_step(published, env, names, cleanup, tmp_path, tmpdir_env):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "requirements.txt").write_text("fantastic-ascii==1.0.0\n")
    (context / "Dockerfile").write_text(
        f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\n"
        f"RUN --mount=type=secret,id=pipconf,required=true echo {names['tag']} && sleep 120\n"
    )
    report = tmp_path / "r.json"
    child = Child(
        ["build", "--context", context, "--image-name", names["image"], "--tag", names["tag"], "--report", report],
        tmpdir_env,
    )
    child.wait_for(rf"#\d+ .*echo {names['tag']}")
    time.sleep(1.0)  # into the silent sleep: no output line is coming
    seconds = child.abort()
    print(f"\nabort time, build: {seconds:.2f}s")
    assert seconds < 5
    assert child.proc.returncode == 143
    data = report_of(report)
    assert data["status"] == "aborted"
    stopped = next(item for item in data["cleaned_up"] if item.startswith("stopped the docker CLI"))
    assert any(item.startswith("removed the pip.conf secret") for item in data["cleaned_up"])
    assert child.lines[-1] == "ERROR: terminated (SIGTERM); cleaned up: " + "; ".join(data["cleaned_up"])
    pid = int(re.search(r"pid (\d+)", stopped).group(1))
    time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not secrets_left(tmpdir_env)
    assert not images_named(names["image"])


def test_abort_during_the_smoke_test(built, names, tmp_path, tmpdir_env):
    report = tmp_path / "r.json"
    child = Child(
        [
            "smoke-test",
            "--image-name",
            names["image"],
            "--tag",
            names["tag"],
            "--smoke-path",
            "/missing",
            "--smoke-timeout",
            "120",
            "--report",
            report,
        ],
        tmpdir_env,
    )
    child.wait_for(r"smoke test .*: GET /missing until HTTP 200")
    # A 404 ends the smoke test at once, so the abort must land while the app is still starting (nothing
    # answers yet, the poll retries): as soon as the engine has the container.
    deadline = time.monotonic() + 30
    while not docker.from_env().containers.list(filters={"label": f"{containers.LABEL}=smoke"}):
        assert time.monotonic() < deadline, child.lines[-5:]
        time.sleep(0.02)
    seconds = child.abort()
    print(f"\nabort time, smoke test: {seconds:.2f}s")
    assert seconds < 5 and child.proc.returncode == 143
    data = report_of(report)
    (removed,) = data["cleaned_up"]
    assert removed.startswith("removed the smoke test container ca-smoke-")
    assert not docker.from_env().containers.list(all=True, filters={"label": f"{containers.LABEL}=smoke"})


def test_abort_during_a_push(built, names, registry_front, tmp_path, tmpdir_env):
    # the tag check's GET passes (the tag is new); the engine's uploads hang
    registry_front.add("hang_before_headers", times=None, method="HEAD")
    registry_front.add("hang_before_headers", times=None, method="POST")
    report = tmp_path / "r.json"
    child = Child(
        [
            "push",
            "--image-name",
            names["image"],
            "--tag",
            names["tag"],
            "--registry",
            registry_front.host,
            "--report",
            report,
        ],
        tmpdir_env,
    )
    child.wait_for(r"push 127\.0\.0\.1:\d+/\S+ \.\.\.")
    time.sleep(1.0)
    seconds = child.abort()
    print(f"\nabort time, push: {seconds:.2f}s")
    assert seconds < 5 and child.proc.returncode == 143
    assert report_of(report)["status"] == "aborted"
    assert "push" not in report_of(report)


def test_abort_during_a_local_deploy_leaves_a_target_serving(built, env, names, tmp_path, tmpdir_env, capsys):
    port = containers.free_port()
    args = ["--image-name", names["image"], "--tag", names["tag"], "--target", "local", "--local-port", port]
    args += ["--local-state-dir", tmp_path / "state"]
    try:
        assert cli(capsys, "push", *args)[0] == 0
        assert cli(capsys, "deploy", *args)[0] == 0  # the previous target
        name = f"ca-{names['image']}-local"
        previous = next(c.name for c in docker.from_env().containers.list() if c.name.startswith(name))
        timings = []
        for moment in ("health check .*: GET", "health check passed"):  # before and during the switch
            report = tmp_path / "r.json"
            child = Child(["deploy", *args, "--report", report], tmpdir_env)
            child.wait_for(moment)
            timings.append(child.abort())
            assert child.proc.returncode == 143, child.lines[-5:]
            # serving: the proxy on the port forwards to one running container, the previous one (never stopped)
            # or, when the abort came after the switch was confirmed, the new one; nothing else is left
            assert smoke.poll(f"http://127.0.0.1:{port}/healthz", 20, strict=False).status == 200
            left = [c for c in docker.from_env().containers.list(all=True) if c.name.startswith(name)]
            assert [c.status for c in left] == ["running"], [c.name for c in left]
            if moment.startswith("health check .*"):  # before the candidate was healthy: nothing switched
                assert left[0].name == previous
            last_error = [line for line in child.lines if line.startswith("ERROR:")][-1]
            assert last_error == "ERROR: terminated (SIGTERM); " + (
                "cleaned up: " + "; ".join(report_of(report)["cleaned_up"])
                if report_of(report)["cleaned_up"]
                else "nothing to clean up"
            )
        with capsys.disabled():
            print(f"\nabort time, local deploy: {', '.join(f'{t:.2f}s' for t in timings)}")
        assert max(timings) < 5
    finally:  # the proxy is a process of its own: stopped (by PID) even when the test fails
        assert cli(capsys, "teardown", *args)[0] == 0
