"""The one file writer: atomic replace, private or world-readable, and the pre-flight path check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jenkins_codeartifact import files


def test_write_replaces_whole_with_the_asked_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    files.write(target, "new", private=True)
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o600
    files.write(target, b"bytes")
    assert target.read_bytes() == b"bytes" and target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        files.write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_private_temp_is_owner_only_and_gone_after_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), files.private_temp("pip.conf", "token") as path:
        assert path.read_text() == "token"
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
        raise RuntimeError
    assert not path.exists() and not path.parent.exists()


def test_check_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert files.check_writable(tmp_path / "new" / "dir" / "r.json") is None
    assert (tmp_path / "new" / "dir").is_dir()  # created, so the later write cannot fail on it
    assert files.check_writable(tmp_path) == "is a directory"
    assert files.check_writable(blocker / "sub" / "r.json") == f"{blocker} is not a directory"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert files.check_writable(locked / "r.json") == f"directory {locked} is not writable"
