"""``ca-publish DIR [DIR...]`` on the sandbox (devpi behind the CodeArtifact stand-in), with the monorepo
fixture of tests/data/monorepo: mono-core, mono-app (depends on mono-core), mono-tools (independent)."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from jenkins_codeartifact.cli import publish

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "monorepo"
NAMES = ("core", "app", "tools")


@dataclass
class Monorepo:
    root: Path
    version: str

    def dir(self, name: str) -> Path:
        return self.root / name


@pytest.fixture
def monorepo(sandbox_environ, tmp_path, monkeypatch) -> Monorepo:
    """A copy of the fixture, every project at one version no other test used (``7.<random>.0``)."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    version = f"7.{uuid.uuid4().int % 10**8}.0"
    for name in NAMES:
        pyproject = root / name / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"'))
    return Monorepo(root, version)


def run(capsys, *argv) -> tuple[int, str]:
    code = publish.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def on_index(env, name: str) -> set[str]:
    resp = requests.get(
        env["CA_SANDBOX_SIMPLE_URL"] + f"{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30
    )
    return {f["filename"] for f in resp.json().get("files", [])} if resp.ok else set()


def test_all_published_dependencies_first(monorepo, sandbox_environ, capsys, tmp_path):
    report = tmp_path / "report.json"
    code, output = run(capsys, monorepo.dir("app"), monorepo.dir("core"), monorepo.dir("tools"), "--report", report)
    assert code == 0, output
    data = json.loads(report.read_text())
    assert (data["tool"], data["status"], data["exit_code"]) == ("ca-publish", "ok", 0)
    names = [p["name"] for p in data["projects"]]
    assert sorted(names) == ["mono-app", "mono-core", "mono-tools"]
    assert names.index("mono-core") < names.index("mono-app"), "a dependency is published before its dependant"
    for project in data["projects"]:
        assert project["status"] == "ok" and project["outcome"] == "uploaded" and project["revision"]
        assert project["version"] == monorepo.version and project["release"] == "whole"
        assert {f["filename"] for f in project["files"]} <= on_index(sandbox_environ, project["name"])
    assert output.index(f"published mono-core {monorepo.version}") < output.index(
        f"published mono-app {monorepo.version}"
    )

    # unbumped: refused before anything is built (exit 3, one line naming each), or passing with --skip-existing
    code, output = run(capsys, monorepo.root / "*")
    assert code == 3, output
    (line,) = [x for x in output.splitlines() if x.startswith("ERROR")]
    for name in ("mono-app", "mono-core", "mono-tools"):
        assert f"{name} {monorepo.version}" in line
    assert "build sdist" not in output
    again = tmp_path / "again.json"
    code, output = run(capsys, monorepo.root / "*", "--skip-existing", "--report", again)
    assert code == 0, output
    data = json.loads(again.read_text())
    assert [p["outcome"] for p in data["projects"]] == ["skipped"] * 3 and data["status"] == "ok"


def test_a_failed_build_skips_its_dependant_and_the_independent_one_goes_on(
    monorepo, sandbox_environ, capsys, tmp_path
):
    (monorepo.dir("core") / "setup.py").write_text("raise SystemExit('mono-core: this build is broken')\n")
    report = tmp_path / "report.json"
    code, output = run(capsys, monorepo.root / "*", "--report", report)
    assert code == 1, output
    errors = [x for x in output.splitlines() if x.startswith("ERROR")]
    assert errors[0].startswith("ERROR: mono-core: ") and "this build is broken" in output
    assert errors[1:] == ["ERROR: mono-app not published: it depends on mono-core, which failed"]
    assert f"published mono-tools {monorepo.version}" in output
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_code"]) == ("failed", 1)
    by_name = {p["name"]: p for p in data["projects"]}
    assert (by_name["mono-core"]["status"], by_name["mono-core"]["exit_code"]) == ("failed", 1)
    assert by_name["mono-app"]["status"] == "skipped" and not by_name["mono-app"]["files"]
    assert by_name["mono-tools"]["outcome"] == "uploaded"
    assert not on_index(sandbox_environ, "mono-app") & {f"mono_app-{monorepo.version}.tar.gz"}
    assert not (monorepo.dir("app") / "dist").exists()


def test_a_setup_py_project_is_ordered_from_the_backends_metadata(monorepo, sandbox_environ, capsys, tmp_path):
    """mono-app without [project]: its name, version and dependencies come from prepare_metadata_for_build_wheel."""
    app = monorepo.dir("app")
    (app / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (app / "setup.py").write_text(
        "from setuptools import setup\n"
        f"setup(name='mono-app', version='{monorepo.version}', packages=['mono_app'], package_dir={{'': 'src'}},\n"
        "      install_requires=['mono-core'])\n"
    )
    report = tmp_path / "report.json"
    code, output = run(capsys, app, monorepo.dir("core"), "--report", report)
    assert code == 0, output
    assert [p["name"] for p in json.loads(report.read_text())["projects"]] == ["mono-core", "mono-app"]
