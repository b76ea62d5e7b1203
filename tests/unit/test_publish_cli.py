"""ca-publish bad input: one clear line, the right exit code, nothing written; no network needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import publish

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "pkg"
    shutil.copytree(ROOT / "package_src", dest, ignore=shutil.ignore_patterns("dist", "*.egg-info", "__pycache__"))
    return dest


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("CA_DOMAIN", "CA_REPOSITORY", "CA_REPOSITORY_URL", "CA_CONFIG", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def errors(capsys):
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("ERROR")], err


def test_no_pyproject(tmp_path, capsys, clean_env):
    assert publish.main([str(tmp_path), "--dry-run"]) == 2
    lines, _ = errors(capsys)
    assert lines == [f"ERROR: {tmp_path / 'pyproject.toml'}: not found"]


def test_missing_project_dir(tmp_path, capsys, clean_env):
    assert publish.main([str(tmp_path / "nope"), "--dry-run"]) == 2
    assert errors(capsys)[0] == [f"ERROR: {tmp_path / 'nope'}: project directory not found"]


def test_broken_pyproject(project, capsys, clean_env):
    (project / "pyproject.toml").write_text("[project\nname = 'x'\n")
    assert publish.main([str(project), "--dry-run"]) == 2
    (line,) = errors(capsys)[0]
    assert "pyproject.toml: not valid TOML" in line
    assert not (project / "dist").exists()


def test_broken_build_requires(project, capsys, clean_env):
    (project / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>>1"]\n')
    assert publish.main([str(project), "--dry-run"]) == 2
    assert "build-system.requires: 'setuptools>>1'" in errors(capsys)[0][0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--domain", "My_Domain", "--repository", "r1"], "domain 'My_Domain': not a valid CodeArtifact domain name"),
        (["--domain", "my-domain", "--repository", "r1", "--token-duration", "60"], "token duration 60: must be 0"),
        (["--domain", "my-domain"], "missing --repository"),
        (["--token-duration", "soon"], "argument --token-duration: invalid int value: 'soon'"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_settings_fail_before_any_build(project, capsys, clean_env, args, needle):
    assert publish.main([str(project), *args]) == 2
    lines, _ = errors(capsys)
    assert len(lines) == 1 and needle in lines[0]
    assert not (project / "dist").exists()


def test_unknown_key_in_config_file(project, capsys, clean_env):
    (project / "jenkins-codeartifact.toml").write_text('domian = "x"\n')
    assert publish.main([str(project), "--config", str(project / "jenkins-codeartifact.toml")]) == 2
    (line,) = errors(capsys)[0]
    assert "jenkins-codeartifact.toml: unknown key 'domian'" in line


def test_dry_run_builds_checks_and_reports(project, tmp_path, capsys, clean_env):
    report = tmp_path / "out" / "report.json"
    assert publish.main([str(project), "--dry-run", "--report", str(report)]) == 0
    import json

    data = json.loads(report.read_text())
    assert (
        data["status"] == "ok"
        and data["outcome"] == "dry-run"
        and data["name"] == "fantastic-ascii"
        and data["version"] == "1.0.0"
    )
    names = sorted(f["filename"] for f in data["files"])
    assert names == ["fantastic_ascii-1.0.0-py3-none-any.whl", "fantastic_ascii-1.0.0.tar.gz"]
    assert sorted(p.name for p in (project / "dist").iterdir()) == names
    err = capsys.readouterr().err
    assert "build sdist and wheel: done in" in err and "dry run: nothing uploaded" in err


SLOW_BACKEND = """
import os, time
def build_sdist(sdist_directory, config_settings=None):
    with open(os.environ["PID_FILE"], "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(60)
    raise SystemExit(1)
"""


def _gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` no longer runs; a zombie (killed, not yet reaped by whoever adopted it) counts."""
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_sigterm_stops_the_build_and_cleans_up(tmp_path):
    """Jenkins aborts with SIGTERM (kill(2) on the process): exit 143 at once, the backend's hook killed,
    no temp dir left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    project = tmp_path / "slow"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "slow_backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "slow"\nversion = "1.0"\n'
    )
    (project / "slow_backend.py").write_text(SLOW_BACKEND)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pid_file = tmp_path / "hook.pid"
    env = {**os.environ, "TMPDIR": str(tmp), "PID_FILE": str(pid_file), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_codeartifact.cli.publish", str(project), "--dry-run"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    hook_pid = int(pid_file.read_text())
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        tree = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,args"], capture_output=True, text=True).stdout
        pytest.fail(f"ca-publish did not exit after SIGTERM:\n{err}\n{tree}")
    assert proc.returncode == 143, err
    assert time.monotonic() - started < 10
    assert "ERROR: terminated (SIGTERM)" in err
    assert _gone(hook_pid), "the backend's hook is still running"
    assert not list(tmp.glob("ca-publish-*")) and not (project / "dist").exists()


def test_a_failed_run_still_writes_its_report(project, tmp_path, capsys, clean_env):
    import json

    report = tmp_path / "report.json"
    (project / "pyproject.toml").write_text("[project\n")
    assert publish.main([str(project), "--dry-run", "--report", str(report)]) == 2
    data = json.loads(report.read_text())
    assert data["status"] == "failed" and data["error"]["exit_code"] == 2
    assert "not valid TOML" in data["error"]["message"]


def test_an_unreachable_build_index_is_one_error_naming_it(project, tmp_path, capsys, clean_env, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")  # no request leaves this test; uv says the index was not reached
    code = publish.main([str(project), "--dry-run", "--build-index", "https://build.invalid/simple/"])
    lines, err = errors(capsys)
    assert code == 1, err
    assert "build requirements from https://build.invalid/simple/ (--build-index)" in err
    assert len(lines) == 1 and lines[0].startswith(
        "ERROR: could not install build requirements from https://build.invalid/simple/ (--build-index): "
    )
    assert not (project / "dist").exists()
