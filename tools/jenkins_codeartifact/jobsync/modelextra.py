"""Parts of the job model added for real estates (issue 22, second pass): raw XML between typed
elements, the long-tail plugins (e-mail, EnvInject passwords, workspace cleanup, git browser, submodule
options). :mod:`.model` re-exports them; they are here to keep that module readable."""

from __future__ import annotations

from dataclasses import dataclass

# Field metadata: a field added after specs were applied counts in the content hash only when it is not
# its default, so that jobs which do not use it keep their hash (and are not rewritten on the next apply).
HASHED_IF_SET = "hashed_if_set"


@dataclass(frozen=True)
class RawAt:
    """Raw XML between typed elements: placed after the first ``after`` typed elements of ``place`` (in the
    renderer's order), so that one unknown element does not turn its typed neighbours raw."""

    place: str
    after: int
    xml: str


BROWSERS = ("github", "gitlab", "bitbucket", "gitweb", "cgit", "gogs", "redmine", "stash")


@dataclass(frozen=True)
class Browser:
    """The git repository browser that links changes (hudson.plugins.git.browser.*); ``version`` for
    GitLab only."""

    kind: str
    url: str
    version: str = ""


@dataclass(frozen=True)
class Submodules:
    """The git plugin's SubmoduleOption in full (``Git.submodules`` is its common form: recursive update
    with the parent's credentials); ``disable`` turns submodule processing off."""

    disable: bool = False
    recursive: bool = False
    tracking: bool = False
    reference: str = ""
    parent_credentials: bool = False
    timeout: int | None = None  # minutes
    shallow: bool = False
    depth: int | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Mail:
    """E-mail on failure (hudson.tasks.Mailer, the mailer plugin)."""

    recipients: str
    every_unstable: bool = True  # also mail for every unstable build (dontNotifyEveryUnstableBuild false)
    individuals: bool = False  # also mail whoever broke the build


@dataclass(frozen=True)
class InjectPasswords:
    """EnvInject's password wrapper with no password entries of its own (those hold encrypted values and
    stay raw): global passwords injected, password parameters masked."""

    global_passwords: bool = False
    mask_parameters: bool = False


@dataclass(frozen=True)
class Cleanup:
    """Delete the workspace before the build (ws-cleanup's PreBuildCleanup, no patterns)."""

    delete_dirs: bool = False
    parameter: str = ""  # a boolean build parameter that turns cleanup on
    external_delete: str = ""  # a command instead of Java's delete
    disable_deferred: bool = False
