"""A build backend runs code fetched from an index: it must not get at ca-publish's secrets.

The sample project's in-tree backend (what a hostile setup.py would do) walks up its ancestors and
reads each one's /proc/<pid>/environ, and looks at its own environment. ca-publish runs as a real
process, as an ordinary user: when the tests run as root, as ``nobody`` (root may read any process's
memory whatever it does), with the system's Python of the same version on the venv's packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

SECRETS = {
    "CA_INDEX_PASSWORD": "index-password-0b5e1c",
    "JENKINS_API_TOKEN": "jenkins-token-7d2a94",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-key-4f81c0",
    "AWS_SESSION_TOKEN": "aws-session-token-93ab17",
    "CODEARTIFACT_AUTH_TOKEN": "codeartifact-token-c2d9e8",
}

PROBE_BACKEND = r"""
import json, os

def _probe(where):
    seen = {"where": where, "own_environ": dict(os.environ), "ancestors": []}
    seen["self_proc"] = "PROBE_OUT=" in open("/proc/self/environ", "rb").read().decode(errors="replace")
    pid = os.getppid()
    while pid > 1:
        entry = {"pid": pid}
        try:
            entry["cmdline"] = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            entry["environ"] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError as exc:
            entry["error"] = type(exc).__name__
        seen["ancestors"].append(entry)
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    with open(os.environ["PROBE_OUT"], "a") as fh:
        fh.write(json.dumps(seen) + "\n")

_probe("import")

def build_sdist(sdist_directory, config_settings=None):
    _probe("build_sdist")
    raise SystemExit("probe done")
"""


NOBODY = 65534


def _as_ordinary_user(root: Path) -> tuple[list[str], dict[str, str], dict[str, object]]:
    """Interpreter, extra environment and Popen options to run ca-publish as a non-root user."""
    if os.geteuid() != 0:
        return [sys.executable], {}, {}
    python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not python.exists():
        pytest.skip(f"running as root and {python} (to run ca-publish as nobody) is not installed")
    for path in [root, *root.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    tools = str(Path(__file__).resolve().parents[2] / "tools")
    env = {
        "PYTHONPATH": os.pathsep.join([tools, sysconfig.get_paths()["purelib"]]),
        "HOME": str(root),
        "XDG_CACHE_HOME": str(root / "cache"),
        "UV_CACHE_DIR": str(root / "uv-cache"),
        "TMPDIR": str(root),
    }
    return [str(python)], env, {"user": NOBODY, "group": NOBODY, "extra_groups": []}


@pytest.fixture
def shared_tmp():
    """A directory an ordinary user may use (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="ca-secrets-test-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_build_backend_cannot_read_the_secrets(shared_tmp):
    project = shared_tmp / "probe"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "probe"\nversion = "1.0"\n'
    )
    (project / "probe_backend.py").write_text(PROBE_BACKEND)
    out = shared_tmp / "probe.jsonl"
    out.touch()
    python, extra_env, options = _as_ordinary_user(shared_tmp)
    env = {**os.environ, **SECRETS, **extra_env, "PROBE_OUT": str(out)}
    proc = subprocess.run(
        [*python, "-m", "jenkins_codeartifact.cli.publish", str(project), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **options,
    )
    assert proc.returncode == 1 and "backend failed in build_sdist" in proc.stderr, proc.stderr  # the probe stops it
    probes = [json.loads(line) for line in out.read_text().splitlines()]
    assert {p["where"] for p in probes} >= {"import", "build_sdist"}
    for probe in probes:
        text = json.dumps(probe)
        for name, value in SECRETS.items():
            assert value not in text, f"{name} reached the backend ({probe['where']})"
        assert not set(SECRETS) & set(probe["own_environ"])
        publish = [a for a in probe["ancestors"] if "jenkins_codeartifact.cli.publish" in a.get("cmdline", "")]
        assert publish and all(a.get("error") == "PermissionError" for a in publish), probe["ancestors"]
    # the probe really reads what it may: its own /proc entry is open to it, ca-publish's is not
    assert all(p["self_proc"] for p in probes), "the probe could not read /proc at all"
