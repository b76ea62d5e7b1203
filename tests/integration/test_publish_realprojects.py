"""ca-publish builds what ``python -m build`` builds, for each failure class of tests/data/realprojects.

Each test builds the project with PyPA build and with ca-publish (the CLI, from the project's parent
directory, as a Jenkins job runs it) in the same test, from two identical copies, and compares member
names, modes and bytes. Build requirements come from the configured index (PyPI).
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from jenkins_codeartifact.dists import Dist
from jenkins_codeartifact.errors import PreconditionError
from jenkins_codeartifact.index import Index
from jenkins_codeartifact.publish import flow
from jenkins_codeartifact.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "realprojects"
CLI = "jenkins_codeartifact.cli.publish"
COMPILED = (".so", ".pyd", ".dylib")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build-env cache for the module: a cached env shared by projects is part of what is tested."""
    return tmp_path_factory.mktemp("ca-cache")


def copies(name: str, tmp_path: Path, tag: str | None = None) -> tuple[Path, Path]:
    """Two identical copies of a fixture (PyPA's, ours), each a git checkout at ``tag`` if given."""
    made = []
    for side in ("pypa", "ours"):
        target = tmp_path / side / name
        shutil.copytree(FIXTURES / name, target)
        if tag:
            env = {**os.environ, **GIT_ENV}
            for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", tag]):
                subprocess.run(["git", *cmd], cwd=target, env=env, check=True, capture_output=True)
        made.append(target)
    return made[0], made[1]


def pypa_build(project: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(project.parent / "dist"), str(project)],
        cwd=project.parent,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=500,
    )


def ca_build(project: Path, cache: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CA_")}
    dist = str(project.parent / "dist")
    proc = subprocess.run(
        [sys.executable, "-m", CLI, str(project), "--dry-run", "--dist-dir", dist, *args],
        cwd=project.parent,  # the job's workspace, not the project
        env={**clean, "XDG_CACHE_HOME": str(cache), **(env or {})},
        capture_output=True,
        text=True,
        timeout=500,
    )
    return proc.returncode, proc.stdout + proc.stderr


def members(path: Path) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, bytes); compiled files and their RECORD lines aside (they carry build paths)."""
    out: dict[str, tuple[int, bytes]] = {}
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                out[info.filename] = (info.external_attr >> 16, zf.read(info))
    else:
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                data = tf.extractfile(m) if m.isfile() else None
                out[m.name] = (m.mode, data.read() if data else f"{m.type!r}->{m.linkname}".encode())
    for name, (mode, data) in list(out.items()):
        if name.endswith(COMPILED):
            out[name] = (mode, b"<compiled>")
        elif name.endswith(".dist-info/RECORD"):
            lines = [line for line in io.StringIO(data.decode()) if not line.split(",")[0].endswith(COMPILED)]
            out[name] = (mode, "".join(lines).encode())
    return out


def assert_same_dists(theirs: Path, ours: Path) -> list[str]:
    names = sorted(p.name for p in theirs.iterdir())
    assert sorted(p.name for p in ours.iterdir()) == names
    assert len(names) == 2
    for name in names:
        left, right = members(theirs / name), members(ours / name)
        assert sorted(right) == sorted(left), name
        for member in left:
            assert right[member] == left[member], f"{name}: {member} differs"
    return names


def build_both(
    name: str, tmp_path: Path, cache: Path, tag: str | None = None, env: dict[str, str] | None = None, *args: str
):
    theirs, ours = copies(name, tmp_path, tag)
    proc = pypa_build(theirs, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code, output = ca_build(ours, cache, *args, env=env)
    assert code == 0, output
    return assert_same_dists(theirs.parent / "dist", ours.parent / "dist"), output


def test_import_time_side_effect_runs_in_the_project_directory(tmp_path, cache):
    """flit_scm writes _version.py when imported: run from the parent directory, into the project."""
    names, _ = build_both("import_side_effect", tmp_path, cache, tag="v1.2.3")
    assert names == ["scmdemo-1.2.3-py2.py3-none-any.whl", "scmdemo-1.2.3.tar.gz"]
    assert not (tmp_path / "ours" / "scmdemo").exists(), "the version file went to the working directory"


def test_the_build_envs_tools_come_first_on_path(tmp_path, cache):
    """An older tool of the same name on the agent's PATH must not be the one the backend runs."""
    fake = tmp_path / "agent-bin"
    fake.mkdir()
    (fake / "wheel").write_text("#!/bin/sh\necho 'wheel 0.1.0 (the agent's old one)'\n")
    (fake / "wheel").chmod(0o755)
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    names, _ = build_both("tool_on_path", tmp_path, cache, env=env)
    with tarfile.open(tmp_path / "ours" / "dist" / names[1]) as tf:
        member = tf.extractfile("toolpath-1.0.0/toolpath/_tool.py")
        assert member is not None and member.read() == b"TOOL = 'wheel 0.45.1'\n"


def test_dynamic_requirements_are_installed_in_the_env_even_if_ca_publish_has_them(tmp_path, cache):
    import six

    names, _ = build_both("dynamic_requires", tmp_path, cache)
    with tarfile.open(tmp_path / "ours" / "dist" / names[1]) as tf:
        member = tf.extractfile("dynreq-1.0.0/dynreq/_six.py")
        assert member is not None and member.read().startswith(b"SIX = ")
    assert six.__file__  # ca-publish's interpreter has six: it must not count for the build env


def test_fresh_build_env_installs_dynamic_requirements_into_its_own_env(tmp_path, cache):
    names, _ = build_both("dynamic_requires", tmp_path, tmp_path / "empty-cache", None, None, "--fresh-build-env")
    assert names == ["dynreq-1.0.0-py3-none-any.whl", "dynreq-1.0.0.tar.gz"]
    assert not (tmp_path / "empty-cache" / "jenkins-codeartifact").exists()  # nothing cached, nothing shared


def test_setup_requires_in_setup_cfg_after_a_project_with_the_same_build_system(tmp_path, cache):
    """python-dateutil after appdirs: the shared env must not make setup_requires look satisfied."""
    build_both("cfg_plain", tmp_path / "first", cache)
    names, _ = build_both("cfg_setup_requires", tmp_path / "second", cache, tag="v2.0.1")
    assert names == ["cfgscm-2.0.1-py3-none-any.whl", "cfgscm-2.0.1.tar.gz"]


def test_system_exit_of_the_backend_is_in_the_error_line(tmp_path, cache):
    theirs, ours = copies("system_exit", tmp_path)
    proc = pypa_build(theirs)
    assert proc.returncode != 0 and "Multiple top-level packages discovered" in proc.stdout + proc.stderr
    code, output = ca_build(ours, cache)
    assert code == 1, output
    (error,) = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert re.search(r"failed in (get_requires_for_build_sdist|build_sdist): error: Multiple top-level", error), error


def test_an_in_tree_backend_is_used_even_when_requires_installs_one_of_the_same_name(tmp_path, cache):
    names, _ = build_both("intree_shadow", tmp_path, cache)
    with zipfile.ZipFile(tmp_path / "ours" / "dist" / names[0]) as zf:
        assert zf.read("shadowed.py") == b'BUILT_BY = "the in-tree flit_core"\n'


def test_a_setup_py_only_project_builds_with_the_legacy_backend_and_one_warning(tmp_path, cache):
    names, output = build_both("setup_py_only", tmp_path, cache)
    assert names == ["legacy_demo-0.3.0-py3-none-any.whl", "legacy_demo-0.3.0.tar.gz"]
    warnings = [line for line in output.splitlines() if line.startswith("WARNING") and "pyproject" in line]
    assert len(warnings) == 1 and "no pyproject.toml" in warnings[0] and "legacy backend" in warnings[0]


class Published(Index):
    """An index that already has some files of the release (``files``: name -> the published file)."""

    files: dict[str, Path]

    def version_files(self, name: str, version: str) -> set[str] | None:
        return set(self.files) or None

    def simple_files(self, name: str, version: str) -> dict[str, str | None] | None:
        return {n: Dist.of(p).sha256 for n, p in self.files.items()} or None

    def download(self, filename: str, target: Path) -> bool:
        shutil.copyfile(self.files[filename], target)
        return True


def published(files: dict[str, Path]) -> Published:
    index = Published(
        upload_url="https://index.invalid/", simple_url="https://index.invalid/simple/", description="the test's index"
    )
    object.__setattr__(index, "files", files)
    return index


def test_c_extension_skip_existing_on_a_clean_checkout(tmp_path, cache, monkeypatch, caplog):
    """The release built elsewhere is whole: exit 0, nothing uploaded, one line for the wheel that differs."""
    theirs, ours = copies("c_extension", tmp_path)
    proc = pypa_build(theirs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    release = {p.name: p for p in (theirs.parent / "dist").iterdir()}
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.chdir(tmp_path)
    settings = Settings(skip_existing=True, repository_url="https://index.invalid/", dist_dir=str(tmp_path / "d"))
    caplog.set_level(logging.INFO)
    result = flow.publish(settings, ours, index_factory=lambda s: published(dict(release)))
    assert result.status == "skipped" and result.uploaded == [] and result.release() == "whole"
    assert_same_dists(theirs.parent / "dist", tmp_path / "d")
    differ = [r.getMessage() for r in caplog.records if "the published file stays" in r.getMessage()]
    wheel = next(n for n in release if n.endswith(".whl"))
    assert Dist.of(release[wheel]).sha256 != Dist.of(tmp_path / "d" / wheel).sha256  # built in another directory
    assert differ == [f"{wheel}: the published file stays; this build differs (compiled files are not reproducible)"]

    # the index has only the wheel, with other bytes: uploading the sdist would mix two builds
    (ours / "cdemo" / "__init__.py").write_text("from ._speed import add  # changed\n\n__all__ = ['add']\n")
    with pytest.raises(PreconditionError, match="would mix two builds in one release"):
        flow.publish(settings, ours, index_factory=lambda s: published({wheel: release[wheel]}))
