"""The job model: typed, frozen dataclasses of what a jobs directory declares (folders, freestyle and
pipeline jobs), and Jenkins' rules for item names. :mod:`.jobspecs` reads them from YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError

Clean = Literal["none", "before-checkout", "wipe"]
CLEAN_VALUES: tuple[Clean, ...] = ("none", "before-checkout", "wipe")
# Characters Jenkins.checkGoodName rejects in an item name (plus ISO control characters).
UNSAFE_NAME_CHARS = "?*/\\%!@#$^&|<>[]:;"
_BAD_NAME_CHAR = re.compile(f"[{re.escape(UNSAFE_NAME_CHARS)}\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Source:
    """Where a model came from, for error messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Git:
    """A git checkout: one remote, one branch spec."""

    url: str
    branch: str = "*/main"
    credentials: str | None = None
    clean: Clean = "none"


@dataclass(frozen=True)
class Binding:
    """Username/password credentials bound into two environment variables for the build."""

    credentials: str
    username: str
    password: str


@dataclass(frozen=True)
class Folder:
    """A cloudbees-folder; jobs inside it are named ``folder/job``."""

    name: str
    description: str = ""
    source: Source = field(default=Source("<memory>", 0), compare=False)


@dataclass(frozen=True)
class Freestyle:
    """A freestyle project: checkout, poll, bind credentials, run shell steps."""

    name: str
    description: str = ""
    git: Git | None = None
    poll: str | None = None
    bindings: tuple[Binding, ...] = ()
    shell: tuple[str, ...] = ()
    timestamps: bool = False
    disabled: bool = False
    previous_names: tuple[str, ...] = field(default=(), compare=False)  # renamed on the server, history kept
    source: Source = field(default=Source("<memory>", 0), compare=False)


@dataclass(frozen=True)
class JenkinsfileSpec:
    """Settings for a rendered consumer Jenkinsfile (see :mod:`.jenkinsfile`)."""

    credentials: str = "aws"
    timeout_minutes: int = 60
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pipeline:
    """A pipeline job whose script comes from SCM ("Pipeline script from SCM")."""

    name: str
    git: Git
    description: str = ""
    script_path: str = "Jenkinsfile"
    lightweight: bool = True
    poll: str | None = None
    disabled: bool = False
    jenkinsfile: JenkinsfileSpec | None = None
    previous_names: tuple[str, ...] = field(default=(), compare=False)
    source: Source = field(default=Source("<memory>", 0), compare=False)


Job = Freestyle | Pipeline
Item = Folder | Freestyle | Pipeline


@dataclass(frozen=True)
class Specs:
    """Everything loaded from a jobs directory, folders first (parents before children)."""

    items: tuple[Item, ...]

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(i for i in self.items if not isinstance(i, Folder))

    def get(self, name: str) -> Item | None:
        return next((i for i in self.items if i.name == name), None)


def fold(name: str) -> str:
    """``name`` as Jenkins compares item names: case-insensitively, character by character.

    Jenkins keeps items in maps ordered by ``String.compareToIgnoreCase`` (upper-case, then lower-case,
    one UTF-16 unit at a time), so ``app`` and ``App`` are one job there.
    """
    if name.isascii():  # the common case, and the same result: ASCII letters only change case
        return name.lower()
    out = []
    for ch in name:
        up = ch.upper()
        up = up if len(up) == 1 else ch
        low = up.lower()
        out.append(low if len(low) == 1 else up)
    return "".join(out)


def check_name(name: str, fail: Callable[[str], ConfigError]) -> str:
    """Validate a full item name the way Jenkins would, segment by segment (``/`` separates folders)."""
    if not name:
        raise fail("name must not be empty")
    for segment in name.split("/"):
        if not segment:
            raise fail(f"{name!r}: empty path segment (leading, trailing or doubled '/')")
        if segment in (".", ".."):
            raise fail(f"{name!r}: {segment!r} is not a valid name")
        if segment != segment.strip():
            raise fail(f"{name!r}: leading or trailing whitespace in {segment!r}")
        if segment.endswith("."):
            raise fail(f"{name!r}: Jenkins rejects a name ending in '.' ({segment!r})")
        if _BAD_NAME_CHAR.search(segment):
            bad = sorted({c for c in segment if _BAD_NAME_CHAR.fullmatch(c)})
            raise fail(f"{name!r}: Jenkins rejects the character(s) {''.join(bad)!r} in a name")
    return name
