"""The job model: typed, frozen dataclasses of what a jobs directory declares (folders, freestyle and
pipeline jobs), and Jenkins' rules for item names. :mod:`.jobspecs` reads them from YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError
from .modelextra import (
    BROWSERS as BROWSERS,
)
from .modelextra import (
    HASHED_IF_SET as HASHED_IF_SET,
)
from .modelextra import (
    Browser as Browser,
)
from .modelextra import (
    Cleanup as Cleanup,
)
from .modelextra import (
    InjectPasswords as InjectPasswords,
)
from .modelextra import (
    Mail as Mail,
)
from .modelextra import (
    RawAt as RawAt,
)
from .modelextra import (
    Submodules as Submodules,
)

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
class GitRemote:
    """A further remote of a git checkout (the first one is :class:`Git`'s own ``url``)."""

    url: str
    credentials: str | None = None
    name: str | None = None
    refspec: str | None = None


@dataclass(frozen=True)
class Git:
    """A git checkout: remotes, branch specs and the git plugin's common extensions.

    ``extensions_raw`` carries further extensions as XML text, placed after the typed ones; ``raw`` other
    ``<scm>`` children.
    """

    url: str
    branch: str = "*/main"
    credentials: str | None = None
    clean: Clean = "none"
    name: str | None = None  # the first remote's name (Jenkins: origin when unset)
    refspec: str | None = None
    remotes: tuple[GitRemote, ...] = ()
    branches: tuple[str, ...] = ()  # further branch specs after ``branch``
    shallow: bool = False
    depth: int | None = None
    clone_timeout: int | None = None  # minutes
    no_tags: bool = False
    checkout_timeout: int | None = None  # minutes
    subdirectory: str | None = None
    submodules: bool = False  # recursive submodule update
    local_branch: str | None = None
    clean_after: bool = False
    honor_refspec: bool = field(default=False, metadata={HASHED_IF_SET: True})  # clone with the refspec
    submodule_options: Submodules | None = field(default=None, metadata={HASHED_IF_SET: True})
    browser: Browser | None = field(default=None, metadata={HASHED_IF_SET: True})
    extensions_raw: str = ""
    raw: str = ""  # further <scm> children (a repository browser, a git tool...)
    # raw extensions between the typed ones (place "extensions")
    extensions_between: tuple[RawAt, ...] = field(default=(), metadata={HASHED_IF_SET: True})


BINDING_KINDS = ("username-password", "secret-text", "secret-file", "ssh-key", "aws")


@dataclass(frozen=True)
class Binding:
    """A credential bound into environment variables for the build (credentials-binding plugin).

    ``username``/``password`` name the variables of a username-password binding (and ``username`` the
    optional user variable of an SSH key); ``variable`` the one of a secret text or file, or an SSH key
    file; ``access_key``/``secret_key`` those of AWS credentials.
    """

    credentials: str
    username: str = ""
    password: str = ""
    kind: str = "username-password"
    variable: str = ""
    passphrase: str = ""
    access_key: str = ""
    secret_key: str = ""


@dataclass(frozen=True)
class Discard:
    """Build discarder (hudson.tasks.LogRotator); ``None`` keeps everything. ``legacy``: the pre-2.x
    top-level ``<logRotator>`` that Jenkins still reads."""

    days: int | None = None
    builds: int | None = None
    artifact_days: int | None = None
    artifact_builds: int | None = None
    legacy: bool = False


PARAM_KINDS = ("string", "boolean", "choice", "text", "password", "credentials")


@dataclass(frozen=True)
class Param:
    """A build parameter. ``default`` is text (``true``/``false`` for a boolean); a password's default may
    be Jenkins' encrypted ``{AQAAAB...}`` form, kept as it is."""

    name: str
    kind: str = "string"
    default: str = ""
    description: str = ""
    choices: tuple[str, ...] = ()
    trim: bool = False
    credential_type: str = ""
    required: bool = False


THRESHOLDS = {
    "success": ("SUCCESS", "0", "BLUE"),
    "unstable": ("UNSTABLE", "1", "YELLOW"),
    "failure": ("FAILURE", "2", "RED"),
}


@dataclass(frozen=True)
class Upstream:
    """Build after other jobs (jenkins.triggers.ReverseBuildTrigger)."""

    jobs: str
    threshold: str = "success"


@dataclass(frozen=True)
class Timeout:
    """build-timeout plugin: abort (or fail) a build after ``minutes``, absolute or without log output."""

    minutes: int
    kind: str = "absolute"  # or no-activity
    fail: bool = False
    env_var: str = field(default="", metadata={HASHED_IF_SET: True})  # the variable holding the timeout


@dataclass(frozen=True)
class Archive:
    """Archive the artifacts (hudson.tasks.ArtifactArchiver)."""

    artifacts: str
    excludes: str = ""
    allow_empty: bool = False
    only_if_successful: bool = False
    fingerprint: bool = False
    default_excludes: bool = field(default=True, metadata={HASHED_IF_SET: True})
    case_sensitive: bool = field(default=True, metadata={HASHED_IF_SET: True})
    follow_symlinks: bool = field(default=True, metadata={HASHED_IF_SET: True})


@dataclass(frozen=True)
class JUnit:
    """Publish JUnit test results (hudson.tasks.junit.JUnitResultArchiver)."""

    results: str
    allow_empty: bool = False
    keep_long_stdio: bool = False
    health_scale: str = "1.0"


# The places whose typed elements may come in another order than the renderer's (they run in it), and
# the key of each typed element there.
ORDER_KEYS = {
    "publishers": ("archive", "junit", "mail"),
    "buildWrappers": ("cleanup", "timeout", "bindings", "timestamps", "ansicolor", "inject_passwords"),
}


RAW_PLACES = ("item", "properties", "triggers", "builders", "publishers", "buildWrappers")
BETWEEN_PLACES = RAW_PLACES[1:]  # the list places where raw XML may sit between typed elements


@dataclass(frozen=True)
class Raw:
    """XML kept verbatim per place of a job, placed after the typed elements of that place (``item``: at
    the top level of the config). Each value is XML text of zero or more elements; ``between`` holds
    raw XML placed between typed elements of a place."""

    item: str = ""
    properties: str = ""
    triggers: str = ""
    builders: str = ""
    publishers: str = ""
    buildWrappers: str = ""
    between: tuple[RawAt, ...] = field(default=(), metadata={HASHED_IF_SET: True})

    def __bool__(self) -> bool:
        return bool(self.between) or any(getattr(self, p) for p in RAW_PLACES)

    def at(self, place: str) -> tuple[RawAt, ...]:
        return tuple(r for r in self.between if r.place == place)


@dataclass(frozen=True)
class Folder:
    """A cloudbees-folder; jobs inside it are named ``folder/job``."""

    name: str
    description: str = ""
    source: Source = field(default=Source("<memory>", 0), compare=False)


@dataclass(frozen=True)
class Common:
    """What freestyle and pipeline jobs share beyond the basics (each optional)."""

    display_name: str | None = None
    label: str | None = None
    quiet_period: int | None = None
    discard: Discard | None = None
    parameters: tuple[Param, ...] = ()
    cron: str | None = None
    upstream: Upstream | None = None
    github_push: bool = False
    github_url: str | None = None
    raw: Raw = Raw()
    # the order of the typed elements of a place, where it is not the renderer's: (place, keys)
    order: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), metadata={HASHED_IF_SET: True})

    def ordered(self, place: str) -> tuple[str, ...]:
        return next((keys for p, keys in self.order if p == place), ())


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
    common: Common = field(default_factory=lambda: Common())
    concurrent: bool = False
    scm_retry: int | None = None
    timeout: Timeout | None = None
    archive: Archive | None = None
    junit: JUnit | None = None
    mail: Mail | None = field(default=None, metadata={HASHED_IF_SET: True})
    ansicolor: str | None = field(default=None, metadata={HASHED_IF_SET: True})  # the colour map: xterm...
    inject_passwords: InjectPasswords | None = field(default=None, metadata={HASHED_IF_SET: True})
    cleanup: Cleanup | None = field(default=None, metadata={HASHED_IF_SET: True})
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
    """A pipeline job: its script from SCM ("Pipeline script from SCM") or inline (``script``)."""

    name: str
    git: Git | None = None
    description: str = ""
    script: str | None = None
    sandbox: bool = True
    concurrent: bool = True
    common: Common = field(default_factory=lambda: Common())
    script_path: str = "Jenkinsfile"
    lightweight: bool = True
    poll: str | None = None
    disabled: bool = False
    jenkinsfile: JenkinsfileSpec | None = None
    # the build timeout: the timeout option of the Jenkinsfile jobsync renders (only with ``jenkinsfile``)
    timeout: Timeout | None = field(default=None, metadata={HASHED_IF_SET: True})
    previous_names: tuple[str, ...] = field(default=(), compare=False)
    source: Source = field(default=Source("<memory>", 0), compare=False)


TRAITS = ("branches", "tags")  # the git discovery traits typed (others: traits_raw)


@dataclass(frozen=True)
class Multibranch:
    """A multibranch pipeline on one git branch source (git plugin's GitSCMSource); Jenkins makes a job
    per discovered branch, which stays Jenkins' (not in the specs, never pruned)."""

    name: str
    url: str
    description: str = ""
    credentials: str | None = None
    source_id: str = ""  # GitSCMSource id; the item's name when empty (stable across renders)
    discover: tuple[str, ...] = ("branches",)
    traits_raw: str = ""  # further SCMSource traits, XML text
    script_path: str = "Jenkinsfile"
    orphaned_days: int | None = None  # orphaned item strategy: discard old branches' jobs
    orphaned_builds: int | None = None
    scan: str | None = None  # PeriodicFolderTrigger spec, e.g. "H H/4 * * *"
    previous_names: tuple[str, ...] = field(default=(), compare=False)
    source: Source = field(default=Source("<memory>", 0), compare=False)


@dataclass(frozen=True)
class RawItem:
    """An item kept as its whole config.xml (item types the model does not know: matrix, multijob,
    multibranch, organization folders...). ``description`` is the config's own; the marker is added to it."""

    name: str
    xml: str
    description: str = ""
    previous_names: tuple[str, ...] = field(default=(), compare=False)
    source: Source = field(default=Source("<memory>", 0), compare=False)

    @property
    def root(self) -> str:
        """The config's root element, which names the item type."""
        m = re.search(r"<([A-Za-z_][\w.\-]*)", re.sub(r"<\?.*?\?>|<!--.*?-->", "", self.xml, flags=re.S))
        return m.group(1) if m else ""

    @property
    def is_folder(self) -> bool:
        return self.root == "com.cloudbees.hudson.plugins.folder.Folder"


Job = Freestyle | Pipeline
Item = Folder | Freestyle | Pipeline | Multibranch | RawItem


@dataclass(frozen=True)
class Specs:
    """Everything loaded from a jobs directory, folders first (parents before children)."""

    items: tuple[Item, ...]

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(i for i in self.items if isinstance(i, Freestyle | Pipeline))

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
