"""The pip.conf secret of the image build: what it says, where it lives, and that it never outlives its run.

pip inside the build reads the index URL (with the token) from this file, mounted by BuildKit as a
secret; its timeout and retries are here too, so a slow index gets patience without any flag or build
arg. The file sits in a private temp directory named after the run's process (pid and start time), and
is removed when the build ends, whatever ends it. A run killed with SIGKILL cannot remove it, so each
build first removes directories whose process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from .. import files, signals
from ..index import Index

log = logging.getLogger(__name__)

SECRET_ID = "pipconf"  # the Dockerfile mounts it: RUN --mount=type=secret,id=pipconf
PREFIX = "ca-pipconf-"
# pip's defaults (15 s, 5 retries) gave up on a cold devpi mirror whose first answer took 14-60 s.
PIP_TIMEOUT = 60
PIP_RETRIES = 8


def pip_config(index: Index) -> str:
    """pip.conf text pointing pip at ``index`` with its credentials (pip reads it with RawConfigParser)."""
    url = index.pip_index_url()
    lines = ["[global]", f"index-url = {url}", f"timeout = {PIP_TIMEOUT}", f"retries = {PIP_RETRIES}"]
    host = urllib.parse.urlsplit(index.simple_url).hostname or ""
    if urllib.parse.urlsplit(index.simple_url).scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        lines.append(f"trusted-host = {host}")  # pip refuses plain-http indexes on other hosts otherwise
    return "\n".join(lines) + "\n"


def _started(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before ")" may hold spaces


def _owner_tag() -> str:
    return f"{os.getpid()}-{_started(os.getpid()) or 0}-"


@contextlib.contextmanager
def secret_file(content: str) -> Iterator[Path]:
    """A 0600 file in a 0700 directory only this run uses, holding ``content``; removed on exit."""
    made = files.private_temp(SECRET_ID, content, prefix=PREFIX + _owner_tag())
    path = made.__enter__()
    try:
        yield path
    finally:
        with signals.deferred():  # an abort arriving now waits until the token is gone from disk
            made.__exit__(None, None, None)


def remove_stale(tmp: str | None = None) -> list[str]:
    """Remove the secret directories of earlier runs that are gone (SIGKILL leaves them); their paths.

    A directory counts as stale only when it is ours (same uid) and the process named in it is not
    running any more (no such pid, or a different process under it since its start time differs).
    """
    removed = []
    root = Path(tmp or tempfile.gettempdir())
    for directory in root.glob(PREFIX + "*"):
        pid, _, rest = directory.name[len(PREFIX) :].partition("-")
        started = rest.partition("-")[0]
        try:
            if directory.lstat().st_uid != os.getuid() or not directory.is_dir() or not pid.isdigit():
                continue
        except OSError:
            continue
        alive = _started(int(pid))
        if alive is not None and alive == started:
            continue  # a live run's secret (a parallel build on this agent)
        shutil.rmtree(directory, ignore_errors=True)
        if not directory.exists():
            log.warning("removed a pip.conf secret left by an earlier run that was killed (pid %s): %s", pid, directory)
            removed.append(str(directory))
    return removed
