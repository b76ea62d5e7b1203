"""``ca-repo env``: what each tool needs to read from (or upload to) the repository, as text, never as config edits.

``aws codeartifact login`` rewrites the user's global pip config and ``~/.pypirc`` in place, supports
neither uv nor poetry, and leaves every pip on the machine pointed at CodeArtifact after the token died.
Here each tool gets environment variables for one shell (``eval "$(ca-repo env)"``) or one command
(``ca-repo exec``), built by pure functions from :class:`Credentials` (tested without a subprocess, like
aws-cli's TOOL_MAP). Sources: pip's "Configuration" (PIP_INDEX_URL), uv's "Package indexes"
(UV_DEFAULT_INDEX replaces PyPI; UV_INDEX only adds one, leaving PyPI the default: the
dependency-confusion hole), poetry's "Repositories" (POETRY_REPOSITORIES_<NAME>_URL,
POETRY_HTTP_BASIC_<NAME>_USERNAME/PASSWORD), twine's TWINE_* variables, netrc(5), and BuildKit secrets.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError

ENV_TOOLS = ("pip", "uv", "poetry", "twine")
FILE_TOOLS = ("netrc", "docker-secret")  # file contents, not environment lines
TOOLS = ENV_TOOLS + FILE_TOOLS
DEFAULT_TOOLS = ("pip", "uv")
DEFAULT_NAME = "codeartifact"
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Credentials:
    """Where the repository is and how to log in: the simple index, the upload URL, user and token."""

    simple_url: str  # ends in /simple/
    upload_url: str
    username: str
    password: str = field(repr=False)
    expires: float | None = None  # epoch seconds; None for a generic index's password

    def index_url(self) -> str:
        """The simple URL with the credentials in it (pip and uv read them from there)."""
        parts = urllib.parse.urlsplit(self.simple_url)
        user = urllib.parse.quote(self.username, safe="")
        password = urllib.parse.quote(self.password, safe="")
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc.rpartition('@')[2]}"))


def check_tools(tools: Sequence[str], name: str) -> tuple[str, ...]:
    """The tools asked for, in order, each once; file outputs alone (they cannot be eval'd with others)."""
    chosen = tuple(dict.fromkeys(tools or DEFAULT_TOOLS))
    unknown = [t for t in chosen if t not in TOOLS]
    if unknown:
        raise ConfigError(f"--for {unknown[0]}: unknown tool", hint=f"choose from {', '.join(TOOLS)}")
    files = [t for t in chosen if t in FILE_TOOLS]
    if files and len(chosen) > 1:
        raise ConfigError(
            f"--for {files[0]}: prints a file's content, not environment lines, so it cannot be combined",
            hint=f"run ca-repo env --for {files[0]} --write FILE on its own",
        )
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"--name {name!r}: must be a letter then letters, digits, '-' or '_' (poetry source name)")
    return chosen


def poetry_key(name: str) -> str:
    """Poetry's environment spelling of a source name: upper case, '-' and '.' as '_'."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def variables(creds: Credentials, tools: Sequence[str], name: str = DEFAULT_NAME) -> dict[str, str]:
    """The environment variables of the environment tools among ``tools``."""
    env: dict[str, str] = {}
    for tool in tools:
        if tool == "pip":
            env["PIP_INDEX_URL"] = creds.index_url()
        elif tool == "uv":
            env["UV_DEFAULT_INDEX"] = creds.index_url()
        elif tool == "poetry":
            key = poetry_key(name)
            env[f"POETRY_REPOSITORIES_{key}_URL"] = creds.simple_url
            env[f"POETRY_HTTP_BASIC_{key}_USERNAME"] = creds.username
            env[f"POETRY_HTTP_BASIC_{key}_PASSWORD"] = creds.password
        elif tool == "twine":
            env["TWINE_REPOSITORY_URL"] = creds.upload_url
            env["TWINE_USERNAME"] = creds.username
            env["TWINE_PASSWORD"] = creds.password
    return env


def shell_lines(env: dict[str, str]) -> str:
    """``export NAME='value'`` lines for a POSIX shell's eval."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


def netrc(creds: Credentials) -> str:
    """A netrc entry for the repository's host (requests, poetry and curl read ~/.netrc)."""
    host = urllib.parse.urlsplit(creds.simple_url).hostname or ""
    return f"machine {host}\nlogin {creds.username}\npassword {creds.password}\n"


def pip_conf(creds: Credentials) -> str:
    """pip.conf for a BuildKit secret (``RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf``)."""
    return f"[global]\nindex-url = {creds.index_url()}\n"


def poetry_source(name: str, creds: Credentials) -> str:
    """The pyproject.toml source poetry needs beside the variables (said on stderr, never written)."""
    return f'[[tool.poetry.source]]\nname = "{name}"\nurl = "{creds.simple_url}"\npriority = "primary"'


def render(creds: Credentials, tools: Sequence[str], name: str = DEFAULT_NAME) -> str:
    """What ``ca-repo env`` prints (or writes) for ``tools`` (already checked by :func:`check_tools`)."""
    if tools == ("netrc",):
        return netrc(creds)
    if tools == ("docker-secret",):
        return pip_conf(creds)
    return shell_lines(variables(creds, tools, name))
