"""ca-repo on the session's sandbox (devpi behind the CodeArtifact stand-in): real pip and uv installs.

publish to ``dev`` -> promote to ``release`` (devpi copies the files between indexes) -> ``eval "$(ca-repo
env)"`` in a shell, then pip and uv install the package from ``release`` -> prune dry run. Sources: pip's
PIP_INDEX_URL, uv's UV_DEFAULT_INDEX ("Package indexes": it replaces PyPI as the default index).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uv
from tests.helpers import fresh_package

from jenkins_codeartifact.cli import publish, repo


@pytest.fixture
def promoted(sandbox_environ, tmp_path, monkeypatch, capsys) -> str:
    """A fresh fantastic-ascii version published to dev and promoted to release; its version."""
    monkeypatch.chdir(tmp_path)
    project = fresh_package(tmp_path, 4)
    assert publish.main([str(project.path), "--repository", "dev", "--report", "publish.json"]) == 0
    argv = ["promote", "fantastic-ascii", project.version, "--from", "dev", "--to", "release"]
    code = repo.main([*argv, "--from-report", "publish.json", "--report", "promote.json"])
    output = capsys.readouterr()
    assert code == 0, output.err
    assert json.loads(Path("promote.json").read_text())["outcome"] == "promoted"
    return project.version


def shell(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in a POSIX shell with a clean environment: only what ca-repo env printed points at the index."""
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    env["UV_NO_CONFIG"] = "1"
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_pip_and_uv_install_from_release_with_the_env_lines(promoted, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CA_REPOSITORY", "release")
    assert repo.main(["env"]) == 0
    lines = capsys.readouterr().out
    uv_bin = uv.find_uv_bin()
    script = (
        f'eval "$LINES"\n'
        f"python -m pip install -q --target pip-t fantastic-ascii=={promoted}\n"
        f"{uv_bin} pip install -q --target uv-t fantastic-ascii=={promoted}\n"
        "ls pip-t uv-t\n"
    )
    result = shell(f"cd {tmp_path} && LINES={_quote(lines)}\n{script}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"fantastic_ascii-{promoted}.dist-info") == 2


def test_prune_dry_run_lists_the_plan_and_changes_nothing(promoted, monkeypatch, capsys) -> None:
    code = repo.main(["prune", "fantastic-ascii", "--repository", "release", "--keep", "0", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 0
    assert f"unlist   {promoted}  (was Published)" in err
    code = repo.main(["promote", "fantastic-ascii", promoted, "--from", "dev", "--to", "release"])
    assert code == 0 and "already there" in capsys.readouterr().err  # still Published in release


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_pip_no_longer_sees_a_version_prune_unlisted(promoted, tmp_path, monkeypatch, capsys) -> None:
    """User guide, "Package version status": an Unlisted version is not in the list package managers get."""
    argv = ["prune", "fantastic-ascii", "--repository", "release", "--keep", "0", "--max-changes", "1000"]
    assert repo.main(argv) == 0
    capsys.readouterr()
    monkeypatch.setenv("CA_REPOSITORY", "release")
    assert repo.main(["env", "--for", "pip"]) == 0
    lines = capsys.readouterr().out
    script = f'eval "$LINES"\npython -m pip install -q --target t fantastic-ascii=={promoted}\n'
    result = shell(f"cd {tmp_path} && LINES={_quote(lines)}\n{script}", tmp_path)
    assert result.returncode == 1 and "(from versions: none)" in result.stderr


@pytest.mark.parametrize("tool", ["netrc", "docker-secret"])
def test_pip_installs_with_the_written_netrc_or_pip_conf(tool, promoted, sandbox_env, tmp_path, monkeypatch) -> None:
    """The file outputs: ~/.netrc (pip finds the credentials for the host) and pip.conf (a BuildKit secret)."""
    monkeypatch.setenv("CA_REPOSITORY", "release")
    written = tmp_path / ("home/.netrc" if tool == "netrc" else "pip.conf")
    assert repo.main(["env", "--for", tool, "--write", str(written)]) == 0
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    index = f"{sandbox_env['AWS_ENDPOINT_URL_CODEARTIFACT']}/pypi/release/simple/"
    how = f"--index-url {index}" if tool == "netrc" else ""
    script = (
        f"cd {tmp_path} && HOME={tmp_path / 'home'} PIP_CONFIG_FILE={written if tool != 'netrc' else os.devnull} "
        f"python -m pip install -q --no-cache-dir --target t {how} fantastic-ascii=={promoted} && ls t"
    )
    result = shell(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"fantastic_ascii-{promoted}.dist-info" in result.stdout


def test_twine_uploads_with_the_env_lines(sandbox_environ, tmp_path, monkeypatch, capsys) -> None:
    project = fresh_package(tmp_path, 5)
    built = subprocess.run(
        [sys.executable, "-m", "build", "-q", "--outdir", str(tmp_path / "dist"), str(project.path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert repo.main(["env", "--for", "twine", "--repository", "dev"]) == 0
    lines = capsys.readouterr().out
    result = shell(f"cd {tmp_path} && eval {_quote(lines)}\npython -m twine upload --non-interactive dist/*", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert repo.main(["promote", "fantastic-ascii", project.version, "--from", "dev", "--to", "release"]) == 0


def test_promote_pins_the_revision_the_publish_report_names(sandbox_environ, tmp_path, monkeypatch, capsys) -> None:
    """ca-publish's report carries the revision; promote --from-report pins it, and refuses (exit 3) a report
    whose revision is not the source's any more."""
    monkeypatch.chdir(tmp_path)
    project = fresh_package(tmp_path, 4)
    assert publish.main([str(project.path), "--repository", "dev", "--report", "publish.json"]) == 0
    published = json.loads(Path("publish.json").read_text())
    assert published["revision"]
    stale = {**published, "revision": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    Path("stale.json").write_text(json.dumps(stale))
    argv = ["promote", "fantastic-ascii", project.version, "--from", "dev", "--to", "release"]
    capsys.readouterr()
    assert repo.main([*argv, "--from-report", "stale.json"]) == 3
    assert f"is at revision {published['revision']}, not the tested" in capsys.readouterr().err
    assert repo.main([*argv, "--from-report", "publish.json", "--report", "promote.json"]) == 0
    assert json.loads(Path("promote.json").read_text())["revision"] == published["revision"]
