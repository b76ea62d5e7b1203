"""Build environments and build index: what PyPA build would do, checked without a network."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from jenkins_codeartifact.errors import ConfigError
from jenkins_codeartifact.publish import buildenv, buildindex

PIP_CONF = """[global]
index-url = https://aws:s3cret-token-value@corp.d.codeartifact.eu-west-1.amazonaws.com/pypi/mirror/simple/
extra-index-url = https://extra.example/simple/
[install]
find-links = /opt/wheels
"""


def pip_config(tmp_path, monkeypatch, text=PIP_CONF, **env):
    """pip reads PIP_CONFIG_FILE (and PIP_* variables) like the user's pip.conf."""
    for key in [k for k in __import__("os").environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    conf = tmp_path / "pip.conf"
    conf.write_text(text)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return buildindex.pip_options()


def test_pip_conf_is_read_as_pip_reads_it_and_the_line_masks_the_token(tmp_path, monkeypatch):
    chosen = buildindex.resolve(None, None, pip_config(tmp_path, monkeypatch))
    assert chosen.source == "pip configuration"
    assert chosen.describe() == (
        "https://aws:****@corp.d.codeartifact.eu-west-1.amazonaws.com/pypi/mirror/simple/ (pip configuration), "
        "extra: https://extra.example/simple/, find-links: /opt/wheels"
    )
    env = chosen.uv_environ()
    assert env["UV_INDEX_URL"].startswith("https://aws:s3cret-token-value@")  # uv gets it in its env, not argv
    assert env["UV_INDEX_STRATEGY"] == "unsafe-best-match" and env["UV_FIND_LINKS"] == "/opt/wheels"
    assert "s3cret" not in chosen.key()  # a new token is the same index: same cached env


def test_pip_index_url_variable_wins_over_the_file(tmp_path, monkeypatch):
    options = pip_config(tmp_path, monkeypatch, PIP_INDEX_URL="https://env.example/simple/")
    assert buildindex.resolve(None, None, options).index_url == "https://env.example/simple/"


def test_precedence_build_index_then_pip_then_codeartifact_then_pypi(tmp_path, monkeypatch):
    options = pip_config(tmp_path, monkeypatch)
    repo = "https://aws:tok@d-1.d.codeartifact.r.amazonaws.com/pypi/repo/simple/"
    explicit = buildindex.resolve("https://build.example/simple/", lambda: repo, options)
    assert (explicit.index_url, explicit.source, explicit.extra_index_urls) == (
        "https://build.example/simple/",
        "--build-index",
        (),
    )
    assert buildindex.resolve(None, lambda: repo, options).source == "pip configuration"
    none = pip_config(tmp_path, monkeypatch, "")
    codeartifact = buildindex.resolve(None, lambda: repo, none)
    assert codeartifact.index_url == repo and codeartifact.source == "the CodeArtifact repository"
    assert codeartifact.describe() == (
        "https://aws:****@d-1.d.codeartifact.r.amazonaws.com/pypi/repo/simple/ (the CodeArtifact repository)"
    )
    assert buildindex.resolve(None, None, none).index_url == buildindex.PYPI


def test_a_build_index_that_is_not_a_url_is_a_config_error():
    with pytest.raises(ConfigError, match=r"--build-index 'corp-mirror': not a URL"):
        buildindex.resolve("corp-mirror", None, {})


def test_uv_children_lose_the_users_own_uv_index_settings():
    chosen = buildindex.BuildIndex("https://a.example/simple/", "x")
    env = buildindex.uv_child_environ({"UV_INDEX_URL": "https://public.example/", "HOME": "/h"}, chosen)
    assert env["UV_INDEX_URL"] == "https://a.example/simple/" and env["HOME"] == "/h"


def make_env(tmp_path: Path, installed: dict[str, tuple[str, list[str]]]) -> buildenv.BuildEnv:
    """A BuildEnv whose site-packages holds the given dists' metadata (name -> (version, requires))."""
    env = buildenv.BuildEnv(tmp_path / "env")
    site = Path(env.purelib)
    for name, (version, requires) in installed.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
        (info / "METADATA").write_text("Metadata-Version: 2.1\n" + "\n".join(lines) + "\n")
    site.mkdir(parents=True, exist_ok=True)
    return env


def test_requirements_are_checked_in_the_env_not_in_ca_publishs_interpreter(tmp_path):
    import six  # ca-publish has it: it must not count

    env = make_env(tmp_path, {"setuptools": ("75.0", []), "cffi": ("1.17.1", ["pycparser"])})
    assert six.__version__
    assert env.unsatisfied(["six", "setuptools>=70", "wheel; python_version < '3'"]) == ["six"]
    assert env.unsatisfied(["setuptools>=80"]) == ["setuptools>=80"]
    assert env.unsatisfied(["cffi"]) == ["cffi"]  # its own requirement pycparser is missing


def test_the_envs_bin_comes_first_on_path_and_pythonpath_is_emptied(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin")
    env = buildenv.BuildEnv(tmp_path / "env")
    assert env.make_extra_environ() == {"PATH": f"{tmp_path}/env/bin:/usr/local/bin:/usr/bin", "PYTHONPATH": ""}


def test_a_cached_env_is_created_once_for_executors_arriving_together(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    created: list[Path] = []

    def fake_create(self, children, index, *installs):
        created.append(self.path)
        time.sleep(0.2)  # long enough for the others to arrive while this one creates
        Path(self.scripts_dir).mkdir(parents=True)

    monkeypatch.setattr(buildenv.BuildEnv, "create", fake_create)
    index = buildindex.BuildIndex(buildindex.PYPI, "test")
    seen: list[Path] = []

    def job():
        with buildenv._cached("k1", buildenv.Children(), index, "setuptools==75.8.0\n") as env:
            seen.append(env.path)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and seen == [created[0]] * 3


def test_the_cache_key_is_the_resolution_so_a_new_backend_release_is_a_new_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pins = iter(["setuptools==75.8.0\n", "setuptools==75.8.0\n", "setuptools==80.0.0\n"])
    monkeypatch.setattr(buildenv, "resolution", lambda children, index, requires: next(pins))
    monkeypatch.setattr(
        buildenv.BuildEnv, "create", lambda self, children, index, *installs: Path(self.scripts_dir).mkdir(parents=True)
    )
    paths = []
    for _ in range(3):
        source = buildenv.EnvSource(["setuptools>=61"], buildindex.BuildIndex(buildindex.PYPI, "t"), fresh=False)
        with source.static() as env:
            paths.append(env.path)
    assert paths[0] == paths[1] != paths[2]


def test_an_abort_while_a_hook_runs_kills_it_with_what_it_started(tmp_path):
    """SIGTERM while a hook runs (in the main thread, as every hook does): Terminated, and neither the hook
    nor the process it started is left running."""
    import os
    import signal

    from jenkins_codeartifact import signals

    children = buildenv.Children()
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )

    def abort_later() -> None:
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # process-directed: the main thread takes it

    start = time.monotonic()
    with signals.handlers(), pytest.raises(signals.Terminated):
        signals.start_thread(abort_later, name="abort")
        children.run([sys.executable, "-c", script], None, {})
    assert time.monotonic() - start < 5
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{grandchild}").exists() and "Z" not in _state(grandchild):
        assert time.monotonic() < deadline, "the hook's child outlived the abort"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_secrets_are_not_in_the_hooks_environment(monkeypatch):
    from jenkins_codeartifact import redact

    monkeypatch.setenv("CA_INDEX_PASSWORD", "hunter2-hunter2")
    monkeypatch.setenv("CODEARTIFACT_AUTH_TOKEN", "walkthrough-style-token")
    monkeypatch.setenv("SOME_URL", "https://aws:registered-secret-value@host/simple/")
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.example/simple/")
    redact.register("registered-secret-value")
    env = redact.child_environ({"X": "1"})
    assert not {"CA_INDEX_PASSWORD", "CODEARTIFACT_AUTH_TOKEN", "SOME_URL"} & set(env)
    assert env["X"] == "1" and env["PIP_INDEX_URL"] == "https://pypi.example/simple/"
