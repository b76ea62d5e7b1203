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
    assert data["status"] == "dry-run" and data["name"] == "fantastic-ascii" and data["version"] == "1.0.0"
    names = sorted(f["filename"] for f in data["files"])
    assert names == ["fantastic_ascii-1.0.0-py3-none-any.whl", "fantastic_ascii-1.0.0.tar.gz"]
    assert sorted(p.name for p in (project / "dist").iterdir()) == names
    err = capsys.readouterr().err
    assert "build sdist and wheel: done in" in err and "dry run: nothing uploaded" in err
