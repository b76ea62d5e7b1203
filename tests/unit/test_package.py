"""Building with the warm (fork-server) runner gives what a fresh interpreter per hook gives."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from jenkins_codeartifact.publish import build as package

# An in-tree backend that reports what a hook sees: the working directory, sys.path, the environment.
BACKEND = """
import io, json, os, sys, tarfile

def build_sdist(sdist_directory, config_settings=None):
    if os.environ.get("FAIL_HOOK"):
        print("the backend says no", flush=True)
        raise SystemExit(3)
    seen = {"cwd": os.getcwd(), "path": sys.path, "backend": os.environ.get("_PYPROJECT_HOOKS_BUILD_BACKEND"),
            "marker": os.environ.get("HOOK_MARKER"), "imported_twice": "probe_state" in sys.modules}
    sys.modules["probe_state"] = sys  # a later hook must not see what an earlier one left behind
    data = json.dumps(seen).encode()
    name = "probe-1.0.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        info = tarfile.TarInfo("probe-1.0/seen.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "probe"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\nbackend-path = ["."]\n'
    )
    (root / "probe_backend.py").write_text(BACKEND)
    return root


def seen_by(runner, project, tmp_path, out, env=None):
    import build

    builder = build.ProjectBuilder(project, python_executable=sys.executable, runner=runner)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        sdist = builder.build("sdist", tmp_path / out)
    with tarfile.open(sdist) as tar:
        member = tar.extractfile("probe-1.0/seen.json")
        assert member is not None
        return json.loads(member.read())


def test_warm_runner_hooks_see_what_fresh_interpreters_see(project, tmp_path):
    fresh = seen_by(package._run, project, tmp_path, "a", {"HOOK_MARKER": "1"})
    warm_runner = package.WarmRunner(sys.executable, "probe_backend")
    try:
        warm = seen_by(warm_runner, project, tmp_path, "b", {"HOOK_MARKER": "1"})
        again = seen_by(warm_runner, project, tmp_path, "c", {"HOOK_MARKER": "2"})
    finally:
        warm_runner.close()
    assert warm["cwd"] == fresh["cwd"] == str(project)
    assert warm["backend"] == fresh["backend"] == "probe_backend"
    assert (warm["marker"], again["marker"]) == ("1", "2")  # each hook gets the caller's current env
    assert not warm["imported_twice"] and not again["imported_twice"]  # forked children share no state
    assert warm["path"] == fresh["path"]  # same import path as a script run: no "" or project dir on it
    assert "" not in warm["path"] and str(project) not in warm["path"]


def test_a_failing_hook_fails_the_step_and_shows_its_output(project, tmp_path, caplog):
    import build

    runner = package.WarmRunner(sys.executable, "probe_backend")
    try:
        builder = build.ProjectBuilder(project, python_executable=sys.executable, runner=runner)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FAIL_HOOK", "1")
            with caplog.at_level("INFO"), pytest.raises(build.BuildBackendException):
                builder.build("sdist", tmp_path / "out")
    finally:
        runner.close()
    assert "the backend says no" in caplog.text


def test_a_dead_server_falls_back_to_a_fresh_interpreter(project, tmp_path):
    runner = package.WarmRunner(sys.executable, "probe_backend")
    assert runner._proc is not None
    runner._proc.kill()
    runner._proc.wait()
    try:
        assert seen_by(runner, project, tmp_path, "d")["cwd"] == str(project)
    finally:
        runner.close()


def test_secrets_are_not_in_the_hooks_environment(project, tmp_path, monkeypatch):
    from jenkins_codeartifact import redact

    monkeypatch.setenv("CA_INDEX_PASSWORD", "hunter2-hunter2")
    monkeypatch.setenv("CODEARTIFACT_AUTH_TOKEN", "walkthrough-style-token")
    monkeypatch.setenv("SOME_URL", "https://aws:registered-secret-value@host/simple/")
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.example/simple/")
    redact.register("registered-secret-value")
    env = redact.child_environ({"X": "1"})
    assert not {"CA_INDEX_PASSWORD", "CODEARTIFACT_AUTH_TOKEN", "SOME_URL"} & set(env)
    assert env["X"] == "1" and env["PIP_INDEX_URL"] == "https://pypi.example/simple/"
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('CA_INDEX_PASSWORD'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "None"


def test_build_env_cache_is_created_once_and_shared(tmp_path, monkeypatch):
    import threading
    import time

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    created: list[Path] = []

    def fake_create(self, requires):
        created.append(self.path)
        time.sleep(0.2)  # long enough for the other job to arrive while this one creates
        (self.path / "bin").mkdir(parents=True)

    monkeypatch.setattr(package.BuildEnv, "_create", fake_create)
    seen: list[Path] = []

    def job():
        with package.BuildEnv._installed(["setuptools>=69"], fresh=False) as env:
            seen.append(env.path)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and seen == [created[0]] * 3


def test_an_expired_generation_is_replaced_but_not_deleted_while_young(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(package.BuildEnv, "_create", lambda self, requires: self.path.mkdir(parents=True))
    with package.BuildEnv._installed([], fresh=False) as first:
        pass
    week = package.ENV_MAX_AGE
    os.utime(first.path / ".ready", (0, first.path.joinpath(".ready").stat().st_mtime - week - 1))
    with package.BuildEnv._installed([], fresh=False) as second:
        assert second.path != first.path and first.path.exists()  # a job may still be using it
    os.utime(first.path / ".ready", (0, first.path.joinpath(".ready").stat().st_mtime - week))
    with package.BuildEnv._installed([], fresh=False) as third:
        assert third.path == second.path and not first.path.exists()
