"""``ca-publish DIR [DIR...]`` bad input: exit 2, one line naming the directory or project, nothing built."""

from __future__ import annotations

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
