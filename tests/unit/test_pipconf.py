"""The pip.conf secret: its content (index, token, patience), its privacy, and that no run leaves it behind."""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jenkins_codeartifact.consume import pipconf
from jenkins_codeartifact.index import Index

TOKEN = "eyJ2ZXIiOjEsImlzdSI6MTcwMDAwMDAwMH0.tok+en/with=chars"
INDEX = Index(
    upload_url="https://d-123456789012.d.codeartifact.eu-west-1.amazonaws.com/pypi/repo/",
    simple_url="https://d-123456789012.d.codeartifact.eu-west-1.amazonaws.com/pypi/repo/simple/",
    username="aws",
    password=TOKEN,
)


def test_pip_config_carries_the_token_quoted():
    text = pipconf.pip_config(INDEX)
    assert text.startswith("[global]\nindex-url = https://aws:")
    assert "tok%2Ben%2Fwith%3Dchars@d-123456789012" in text
    assert "trusted-host" not in text


def test_pip_gets_a_longer_timeout_and_retries_through_the_secret():
    conf = configparser.RawConfigParser()  # how pip reads it
    conf.read_string(pipconf.pip_config(INDEX))
    assert int(conf["global"]["timeout"]) >= 60  # pip's own default, 15 s, gave up on a cold mirror
    assert int(conf["global"]["retries"]) > 5


def test_pip_config_trusts_plain_http_hosts_other_than_loopback():
    remote = Index("http://nexus:8081/x/", "http://nexus:8081/x/simple/", "u", "secretpw")
    local = Index("http://127.0.0.1:3141/x/", "http://127.0.0.1:3141/x/+simple/", "u", "secretpw")
    assert "trusted-host = nexus" in pipconf.pip_config(remote)
    assert "trusted-host" not in pipconf.pip_config(local)


def test_secret_file_is_private_and_removed_even_on_error():
    seen: list[Path] = []
    with pytest.raises(RuntimeError), pipconf.secret_file("x = 1\n") as path:
        seen.append(path)
        assert path.read_text() == "x = 1\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        raise RuntimeError("boom")
    assert not seen[0].exists()
    assert not seen[0].parent.exists()


def test_the_secret_of_a_killed_run_is_removed_by_the_next_one_and_a_live_runs_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    # A run that died (its pid is free now, or reused by another process with another start time).
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = tmp_path / f"{pipconf.PREFIX}{dead.stdout.strip()}-12345-abcd"
    killed.mkdir(mode=0o700)
    (killed / "pipconf").write_text(f"[global]\nindex-url = https://aws:{TOKEN}@x/simple/\n")
    reused = tmp_path / f"{pipconf.PREFIX}{os.getppid()}-1-efgh"  # a live pid, but not the run that made it
    reused.mkdir(mode=0o700)
    with pipconf.secret_file("mine") as live:  # this run's own, in use
        removed = pipconf.remove_stale()
        assert live.exists()
    assert sorted(removed) == sorted([str(killed), str(reused)])
    assert not killed.exists() and not reused.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_secret_names_the_private_index_and_no_other():
    conf = configparser.RawConfigParser()
    conf.read_string(pipconf.pip_config(INDEX))
    assert set(conf.sections()) == {"global"}
    assert conf["global"]["index-url"].endswith("/simple/")
    assert not {"extra-index-url", "find-links", "no-index"} & set(conf["global"])
