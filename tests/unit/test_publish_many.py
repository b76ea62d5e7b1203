"""``ca-publish DIR [DIR...]`` bad input: exit 2, one line naming the directory or project, nothing built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import publish

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "monorepo"


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    for var in ("CA_DOMAIN", "CA_REPOSITORY", "CA_REPOSITORY_URL", "CA_CONFIG", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "repo"
    shutil.copytree(FIXTURE, dest)
    return dest


def fails(capsys, *argv) -> list[str]:
    """Exit 2 with nothing built; the ERROR lines."""
    assert publish.main([str(a) for a in argv] + ["--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "build sdist" not in err
    return [line for line in err.splitlines() if line.startswith("ERROR")]


def no_dist(root: Path) -> bool:
    return not any((root / name / "dist").exists() for name in ("core", "app", "tools"))


def test_a_directory_that_is_not_a_project(root, capsys):
    (root / "docs").mkdir()
    assert fails(capsys, root / "core", root / "docs") == [f"ERROR: {root / 'docs' / 'pyproject.toml'}: not found"]
    assert no_dist(root)


def test_the_same_directory_twice(root, capsys):
    (line,) = fails(capsys, root / "core", root / "tools", root / "core" / ".." / "core")
    assert line == f"ERROR: {root / 'core' / '..' / 'core'}: the same project as {root / 'core'}"


def test_the_same_project_name_twice(root, capsys):
    shutil.copytree(root / "core", root / "core-copy")
    (line,) = fails(capsys, root / "core", root / "core-copy")
    assert line == f"ERROR: {root / 'core-copy'}: project mono-core is also {root / 'core'}"


def test_a_dependency_cycle(root, capsys):
    pyproject = root / "core" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = []", 'dependencies = ["Mono_App"]'))
    (line,) = fails(capsys, root / "*")
    assert line.startswith("ERROR: dependency cycle: ") and "mono-app" in line and "mono-core" in line
    assert no_dist(root)


def test_a_bad_dependency_names_its_file(root, capsys):
    pyproject = root / "tools" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = []", 'dependencies = ["requests>>2"]'))
    (line,) = fails(capsys, root / "core", root / "tools")
    assert line.startswith(f"ERROR: {pyproject}: dependency 'requests>>2': ")


def test_a_glob_that_matches_nothing(root, capsys):
    assert fails(capsys, root / "packages-*") == [f"ERROR: {root / 'packages-*'}: the pattern matches no directory"]


def test_a_dry_run_builds_every_project_dependencies_first(root, capsys, tmp_path):
    report = tmp_path / "report.json"
    assert (
        publish.main([str(root / "app"), str(root / "tools"), str(root / "core"), "--dry-run", "--report", str(report)])
        == 0
    )
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_code"]) == ("ok", 0)
    names = [p["name"] for p in data["projects"]]
    assert sorted(names) == ["mono-app", "mono-core", "mono-tools"] and names.index("mono-core") < names.index(
        "mono-app"
    )
    for project in data["projects"]:
        assert project["outcome"] == "dry-run" and project["release"] is None and project["revision"] is None
        assert sorted(f["filename"].split("-")[0] for f in project["files"]) == [project["name"].replace("-", "_")] * 2
        assert Path(project["project"], "dist").is_dir()


def test_sigterm_in_the_second_project_reports_what_each_did(root, capsys, tmp_path, monkeypatch):
    """Jenkins' abort during the second project: exit 143, the first one's report kept, the second's aborted."""
    from jenkins_codeartifact import signals
    from jenkins_codeartifact.publish import flow

    real = flow.publish
    runs: list[Path] = []

    def second_is_aborted(settings, project, *args):
        runs.append(project)
        if len(runs) == 2:
            raise signals.Terminated
        return real(settings, project, *args)

    monkeypatch.setattr(flow, "publish", second_is_aborted)
    report = tmp_path / "report.json"
    code = publish.main(
        [str(root / "core"), str(root / "tools"), str(root / "app"), "--dry-run", "--report", str(report)]
    )
    assert code == 143
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_code"]) == ("aborted", 143)
    assert [(p["status"], p["exit_code"]) for p in data["projects"]] == [("ok", 0), ("aborted", 143)]
    assert data["projects"][0]["outcome"] == "dry-run" and len(runs) == 2
