"""Who owns the jobs of a jobs directory: the id written into every marker, so sources never touch each other.

The default comes from git, so that the same repository gives the same owner on a laptop and on a
Jenkins agent (whatever the clone's path, protocol or credentials): the ``origin`` URL normalised
(scheme, credentials, port, ``.git`` and trailing ``/`` dropped, host lower-cased) plus the jobs
directory relative to the repository root, e.g. ``github.com/acme/app:jenkins/jobs``. Two directories
of one repository are two owners.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from pathlib import Path

from ..errors import ConfigError

_VALID = re.compile(r"^[^\s\]]+$")
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.*)$")  # git@github.com:acme/app.git
HINT = "pass --owner ID or set CA_JOBSYNC_OWNER (or keep the jobs directory in a git clone with an 'origin' remote)"
GIT_TIMEOUT = 10.0


def check(owner: str, where: str = "--owner") -> str:
    if not _VALID.match(owner):
        raise ConfigError(f"{where}: {owner!r} is not a valid owner id (no spaces, no ']')", hint=HINT)
    return owner


def normalise_url(url: str) -> str:
    """``https://u:tok@GitHub.com:443/acme/app.git/`` and ``git@github.com:acme/app`` -> ``github.com/acme/app``."""
    url = url.strip()
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path
    elif m := _SCP_LIKE.match(url):
        host, path = m.group(1).lower(), m.group(2)
    else:  # a local path used as a remote
        host, path = "", url
    path = path.strip("/")
    path = path.removesuffix(".git").rstrip("/")
    return f"{host}/{path}" if host else path


def _git(directory: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def from_git(jobs_dir: Path) -> str:
    """The default owner of ``jobs_dir``; ConfigError (exit 2) when it has no git clone with an origin."""
    directory = jobs_dir.resolve()
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top is None:
        raise ConfigError(f"{jobs_dir}: not in a git repository: cannot tell whose jobs these are", hint=HINT)
    origin = _git(directory, "config", "--get", "remote.origin.url")
    if origin is None:
        raise ConfigError(f"{top}: git repository without an 'origin' remote: cannot derive the owner", hint=HINT)
    relative = directory.relative_to(Path(top).resolve()).as_posix()
    owner = normalise_url(origin) + ("" if relative == "." else f":{relative}")
    return check(owner.replace(" ", "%20"), "owner derived from git")


def resolve(jobs_dir: str | Path, explicit: str | None) -> str:
    """``--owner``/``CA_JOBSYNC_OWNER``/config key if given, else derived from git."""
    if explicit:
        return check(explicit)
    return from_git(Path(jobs_dir))
