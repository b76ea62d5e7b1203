"""config.xml elements of the long-tail parts (issue 22, second pass), as their plugins save them: the
mailer's ``Mailer``, ansicolor's wrapper, EnvInject's password wrapper, ws-cleanup's ``PreBuildCleanup``,
the git plugin's repository browsers and ``SubmoduleOption`` in full. Imported through :mod:`.parts`,
which re-exports them (this module uses its helpers by module)."""

from __future__ import annotations

from lxml import etree

from . import parts
from .model import Browser, Cleanup, InjectPasswords, Mail, Submodules

_EXT = "hudson.plugins.git.extensions.impl."
_BROWSER = "hudson.plugins.git.browser."
BROWSER_CLASSES = {
    "github": _BROWSER + "GithubWeb",
    "gitlab": _BROWSER + "GitLab",
    "bitbucket": _BROWSER + "BitbucketWeb",
    "gitweb": _BROWSER + "GitWeb",
    "cgit": _BROWSER + "CGit",
    "gogs": _BROWSER + "GogsGit",
    "redmine": _BROWSER + "RedmineWeb",
    "stash": _BROWSER + "Stash",
}
MAILER = "hudson.tasks.Mailer"
ANSICOLOR = "hudson.plugins.ansicolor.AnsiColorBuildWrapper"
INJECT_PASSWORDS = "EnvInjectPasswordWrapper"  # envinject registers this short alias and saves under it
CLEANUP = "hudson.plugins.ws__cleanup.PreBuildCleanup"


def mailer(m: Mail) -> etree._Element:
    """``hudson.tasks.Mailer`` (mailer plugin): recipients, then its two flags."""
    root = parts.el(None, MAILER)
    parts.el(root, "recipients", m.recipients)
    parts.el(root, "dontNotifyEveryUnstableBuild", parts.boolean(not m.every_unstable))
    parts.el(root, "sendToIndividuals", parts.boolean(m.individuals))
    return root


def ansicolor(color_map: str) -> etree._Element:
    root = parts.el(None, ANSICOLOR)
    parts.el(root, "colorMapName", color_map)
    return root


def inject_passwords(p: InjectPasswords) -> etree._Element:
    root = parts.el(None, INJECT_PASSWORDS)
    parts.el(root, "injectGlobalPasswords", parts.boolean(p.global_passwords))
    parts.el(root, "maskPasswordParameters", parts.boolean(p.mask_parameters))
    parts.el(root, "passwordEntries")
    return root


def cleanup(c: Cleanup) -> etree._Element:
    """ws-cleanup's ``PreBuildCleanup`` without patterns."""
    root = parts.el(None, CLEANUP)
    parts.el(root, "deleteDirs", parts.boolean(c.delete_dirs))
    parts.el(root, "cleanupParameter", c.parameter)
    parts.el(root, "externalDelete", c.external_delete)
    parts.el(root, "disableDeferredWipeout", parts.boolean(c.disable_deferred))
    return root


def browser(b: Browser) -> etree._Element:
    root = parts.el(None, "browser", **{"class": BROWSER_CLASSES[b.kind]})
    parts.el(root, "url", b.url)
    if b.version:
        parts.el(root, "version", b.version)
    return root


def submodule_option(m: Submodules) -> etree._Element:
    """``SubmoduleOption`` in the order of its fields in the git plugin (optional integers when set)."""
    e = parts.el(None, _EXT + "SubmoduleOption")
    parts.el(e, "disableSubmodules", parts.boolean(m.disable))
    parts.el(e, "recursiveSubmodules", parts.boolean(m.recursive))
    parts.el(e, "trackingSubmodules", parts.boolean(m.tracking))
    parts.el(e, "reference", m.reference)
    parts.el(e, "parentCredentials", parts.boolean(m.parent_credentials))
    if m.timeout is not None:
        parts.el(e, "timeout", str(m.timeout))
    parts.el(e, "shallow", parts.boolean(m.shallow))
    for tag, value in (("depth", m.depth), ("threads", m.threads)):
        if value is not None:
            parts.el(e, tag, str(value))
    return e
