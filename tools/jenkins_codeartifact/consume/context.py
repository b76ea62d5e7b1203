"""Build context hygiene: the files ``docker build`` would send that look like secrets, before it sends them.

``COPY . .`` copies whatever the context holds into a layer anyone who pulls the image can read; the
default context of a Jenkins job is its workspace, whose ``.git/config`` may hold a token in a remote
URL. The files are listed with the docker SDK's own ``.dockerignore`` matcher (the one ``docker-py``
builds its context tar with), so what is reported is what the engine would receive.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from docker.utils.build import exclude_paths

from ..errors import ConfigError

log = logging.getLogger(__name__)
SHOWN = 10  # names in the error line; the rest are counted

_KEY_FILE = re.compile(r"id_(rsa|dsa|ecdsa|ed25519)(?!.*\.pub$).*")
_ENV_SAMPLE = (".example", ".sample", ".template", ".dist")
_NAMED = {
    ".npmrc": "npm credentials",
    ".pypirc": "PyPI credentials",
    ".netrc": "netrc credentials",
    "_netrc": "netrc credentials",
    ".git-credentials": "git credentials",
}
_URL_CREDENTIALS = re.compile(rb"\b(?:https?|ftp)://[^/\s@]+@", re.I)  # a user (or token) before the host
_PEM_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the context, with /
    why: str

    def __str__(self) -> str:
        return f"{self.path} ({self.why})"


def ignore_patterns(context: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """The patterns of ``<Dockerfile>.dockerignore`` (BuildKit prefers it) or else ``.dockerignore``,
    read as docker-py reads them: stripped, blank lines and ``#`` comments dropped."""
    for name in (f"{dockerfile}.dockerignore", ".dockerignore"):
        file = context / name
        if file.is_file():
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return []


def secret_files(context: Path, dockerfile: str = "Dockerfile") -> list[Finding]:
    """Files that would enter the build context and match a known secret pattern, sorted by path."""
    try:
        sent = exclude_paths(str(context), ignore_patterns(context, dockerfile), dockerfile=dockerfile)
    except OSError as exc:
        raise ConfigError(f"--context {context}: cannot list the build context ({exc.strerror or exc})") from exc
    found = []
    for rel in sorted(sent):
        posix = PurePosixPath(rel.replace("\\", "/"))
        path = context / rel
        if not path.is_file():
            continue
        why = classify(posix, path)
        if why:
            found.append(Finding(str(posix), why))
    return found


def classify(rel: PurePosixPath, path: Path) -> str | None:
    """Why the file at ``rel`` looks like a secret, or None."""
    name, parts = rel.name, rel.parts
    if ".aws" in parts[:-1]:
        return "AWS credentials or config"
    if name in _NAMED:
        return _NAMED[name]
    if name == ".env" or (name.startswith(".env.") and not name.endswith(_ENV_SAMPLE)):
        return "environment file"
    if name.endswith((".pem", ".key")) and _has(path, _PEM_KEY):  # a CA bundle (certifi's cacert.pem) is public
        return "PEM private key"
    if _KEY_FILE.fullmatch(name):
        return "SSH private key"
    if len(parts) >= 2 and parts[-2:] == (".git", "config") and _has(path, _URL_CREDENTIALS):
        return "credentials in a remote URL"
    if len(parts) >= 2 and parts[-2:] == (".docker", "config.json"):
        return "registry logins"
    return None


def _has(path: Path, pattern: re.Pattern[bytes]) -> bool:
    """Whether the file's first megabyte matches ``pattern`` (an unreadable file: no)."""
    try:
        with path.open("rb") as fh:
            return bool(pattern.search(fh.read(1_000_000)))
    except OSError:
        return False


def check(context: Path, *, allow: bool, dockerfile: str = "Dockerfile") -> list[Finding]:
    """Exit 2 naming what looks like a secret in the context (a WARNING instead with ``allow``)."""
    found = secret_files(context, dockerfile)
    if not found:
        return found
    names = "; ".join(str(f) for f in found[:SHOWN]) + (
        f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    )
    what = f"the build context {context} holds {len(found)} file(s) that look like secrets: {names}"
    if allow:
        log.warning("%s; building anyway (--allow-context-secrets)", what)
        return found
    raise ConfigError(
        what,
        hint=f"exclude them in {context / '.dockerignore'} (e.g. .git, .env, .aws, *.pem), build from a "
        "narrower --context, or pass --allow-context-secrets if the image must hold them",
    )
