"""ca-publish against the real devpi index and the CodeArtifact API stand-in, through real boto3 HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import requests
import twine.commands.upload
import twine.settings
from tests.helpers import fresh_package

from jenkins_codeartifact.cli import publish
from jenkins_codeartifact.sandbox.codeartifact_state import TOKEN_PREFIX


@pytest.fixture
def env(sandbox_environ, monkeypatch, tmp_path):
    """The sandbox's variables in os.environ (in-process CLI calls read them), run from an empty directory."""
    monkeypatch.chdir(tmp_path)
    return sandbox_environ


@pytest.fixture
def project(tmp_path):
    """package_src with a version no other test used, so tests share one index without colliding."""
    return fresh_package(tmp_path, 1)


def run(capsys, *argv):
    code = publish.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def simple_files(env, password, name="fantastic-ascii"):
    """The files devpi (behind the stand-in) holds for ``name``, asked with devpi's own password."""
    url = env["CA_SANDBOX_INDEX_URL"].rstrip("/") + f"/+simple/{name}/"
    resp = requests.get(url, auth=("aws", password), headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    return {f["filename"] for f in resp.json().get("files", [])} if resp.ok else set()


def test_publish_then_install_with_pip_from_the_index(env, token, devpi_password, endpoint, project, capsys, tmp_path):
    report = tmp_path / "report.json"
    code, output = run(capsys, project.path, "--report", report)
    assert code == 0, output
    assert re.search(r"build sdist and wheel: done in \d+\.\ds", output)
    assert f"published fantastic-ascii {project.version}" in output
    data = json.loads(report.read_text())
    assert data["status"] == "ok" and data["outcome"] == "uploaded" and data["version"] == project.version
    names = {f["filename"] for f in data["files"]}
    assert names == simple_files(env, devpi_password) & names
    assert all(f["uploaded"] and len(f["sha256"]) == 64 for f in data["files"])

    # CodeArtifact's view: the version exists and lists both files
    ca = boto3.Session().client("codeartifact")
    where = {
        "domain": env["CA_DOMAIN"],
        "domainOwner": env["CA_DOMAIN_OWNER"],
        "repository": env["CA_REPOSITORY"],
        "format": "pypi",
        "package": "fantastic-ascii",
        "packageVersion": project.version,
    }
    ca.describe_package_version(**where)
    assets = {a["name"] for a in ca.list_package_version_assets(**where)["assets"]}
    assert assets == {f["filename"] for f in data["files"]}

    # a consumer installs it with pip from the index, authenticating with the token (via env, not argv)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    index_url = endpoint.replace("://", f"://aws:{token}@").rstrip("/") + "/simple/"
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    pip_env.update(PIP_INDEX_URL=index_url, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"fantastic-ascii=={project.version}"], check=True, env=pip_env
    )
    framed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import fantastic_ascii; print(fantastic_ascii.frame('hi'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert framed.splitlines() == ["+----+", "| hi |", "+----+"]


def test_publishing_the_same_version_again_exits_3_and_says_what_to_do(env, project, capsys):
    assert run(capsys, project.path)[0] == 0
    dist = {p.name: p.stat().st_mtime_ns for p in (project.path / "dist").iterdir()}
    code, output = run(capsys, project.path)
    assert code == 3
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: fantastic-ascii {project.version} is already published in CodeArtifact my-domain/my-repository"
    ]
    assert f"raise the version in {project.path / 'pyproject.toml'}" in output
    # refused before anything was written: dist/ still holds the first run's files, untouched
    assert {p.name: p.stat().st_mtime_ns for p in (project.path / "dist").iterdir()} == dist


def test_skip_existing_exits_0_and_uploads_nothing(env, devpi_password, project, capsys, tmp_path):
    assert run(capsys, project.path)[0] == 0
    before = simple_files(env, devpi_password)
    report = tmp_path / "skip.json"
    code, output = run(capsys, project.path, "--skip-existing", "--report", report)
    assert code == 0, output
    assert (
        f"fantastic-ascii {project.version} is already in CodeArtifact my-domain/my-repository: nothing uploaded"
        in output
    )
    data = json.loads(report.read_text())
    assert data["outcome"] == "skipped" and data["skipped"] is True and not any(f["uploaded"] for f in data["files"])
    assert simple_files(env, devpi_password) == before


def test_skip_existing_uploads_only_the_missing_file(env, token, endpoint, project, capsys, tmp_path):
    assert run(capsys, project.path, "--dry-run")[0] == 0
    sdist = next((project.path / "dist").glob("*.tar.gz"))
    twine.commands.upload.upload(
        twine.settings.Settings(
            username="aws", password=token, repository_url=endpoint, non_interactive=True, disable_progress_bar=True
        ),
        [str(sdist)],
    )
    capsys.readouterr()
    report = tmp_path / "partial.json"
    code, output = run(capsys, project.path, "--skip-existing", "--report", report)
    assert code == 0, output
    uploaded = {f["filename"] for f in json.loads(report.read_text())["files"] if f["uploaded"]}
    assert uploaded == {f"fantastic_ascii-{project.version}-py3-none-any.whl"}
    assert "uploading only the missing files" in output


def test_generic_index_mode(env, devpi_password, project, capsys, monkeypatch):
    for var in ("CA_DOMAIN", "CA_REPOSITORY", "CA_DOMAIN_OWNER"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("CA_REPOSITORY_URL", env["CA_SANDBOX_INDEX_URL"])  # devpi's +simple/ is found by itself
    monkeypatch.setenv("CA_INDEX_USERNAME", "aws")
    monkeypatch.setenv("CA_INDEX_PASSWORD", devpi_password)
    code, output = run(capsys, project.path)
    assert code == 0, output
    assert {f"fantastic_ascii-{project.version}.tar.gz"} <= simple_files(env, devpi_password)
    code, output = run(capsys, project.path)
    assert code == 3 and "is already published in http" in output


def test_wrong_token_is_refused_and_nothing_is_uploaded(env, devpi_password, project, capsys, monkeypatch):
    monkeypatch.delenv("CA_DOMAIN")
    monkeypatch.setenv("CA_REPOSITORY_URL", env["CA_SANDBOX_INDEX_URL"])
    monkeypatch.setenv("CA_SIMPLE_URL", env["CA_SANDBOX_INDEX_URL"].rstrip("/") + "/+simple/")
    monkeypatch.setenv("CA_INDEX_USERNAME", "aws")
    monkeypatch.setenv("CA_INDEX_PASSWORD", "wrong-" + uuid.uuid4().hex)
    code, output = run(capsys, project.path)
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "refused" in errors[0] and "401" in errors[0], output
    assert not any(project.version in f for f in simple_files(env, devpi_password))


def test_codeartifact_api_down(env, project, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, output = run(capsys, project.path)
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "CodeArtifact GetRepositoryEndpoint failed" in errors[0], output
    assert not (project.path / "dist").exists()


def test_token_never_leaks(env, token, project, capsys, tmp_path, monkeypatch):
    argvs: list[str] = []
    real_init = subprocess.Popen.__init__

    uv_envs: list[str] = []

    def recording_init(self, args, *a, **kw):
        argvs.append(" ".join(map(str, args)) if not isinstance(args, str) else args)
        child_env = kw.get("env") or os.environ
        # uv (not code from an index) gets the repository's URL with the token in its environment, as
        # pip gets it from the pip.conf `aws codeartifact login` writes: build requirements come from there
        is_uv = not isinstance(args, str) and Path(str(args[0])).name == "uv"
        (uv_envs if is_uv else argvs).append(" ".join(f"{k}={v}" for k, v in child_env.items()))
        return real_init(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording_init)
    report = tmp_path / "r.json"
    code, output = run(capsys, project.path, "-v", "--report", report)
    assert code == 0, output
    code2, output2 = run(capsys, project.path, "-v")  # the exit-3 path, with debug output
    assert code2 == 3
    assert argvs, "the build must have started child processes"
    assert uv_envs and all(token not in e or "UV_INDEX_URL=https://aws:" in e for e in uv_envs)
    # every run mints its own tokens: look for any token (they all start alike), and the session's one
    for text in (output, output2, report.read_text(), *argvs):
        assert token not in text and TOKEN_PREFIX not in text
    for path in project.path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes() and TOKEN_PREFIX.encode() not in path.read_bytes(), path


def test_build_requirements_come_from_the_codeartifact_repository(
    env, endpoint, project, capsys, monkeypatch, tmp_path
):
    """No pip index configured: the build env is made from the repository itself (its upstream), not PyPI."""
    for var in [v for v in os.environ if v.startswith(("PIP_", "UV_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, output = run(capsys, project.path, "--dry-run", "--fresh-build-env")
    assert code == 0, output
    masked = endpoint.replace("://", "://aws:****@").rstrip("/") + "/simple/"
    assert f"build requirements from {masked} (the CodeArtifact repository)" in output.splitlines()
