"""Decoders of config.xml elements into the typed parts of :mod:`.model` (the inverse of :mod:`.parts`).

A decoder may be loose: :func:`attempt` keeps its result only when rendering it gives the element back
(compared canonically), so what a decoder misreads stays raw XML instead of being changed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from . import jobrender, parts, xmlcompare
from .model import (
    THRESHOLDS,
    Archive,
    Binding,
    Browser,
    Cleanup,
    Discard,
    Git,
    GitRemote,
    InjectPasswords,
    JUnit,
    Mail,
    Multibranch,
    Param,
    RawAt,
    Submodules,
    Timeout,
    Upstream,
)

_PARAM_KINDS = {cls: kind for kind, cls in parts.PARAM_CLASSES.items()}
_BINDING_KINDS = {cls: kind for kind, cls in parts.BINDING_CLASSES.items()}
_EXT = "hudson.plugins.git.extensions.impl."


class NoMatch(Exception):
    """An element whose structure the typed decoder does not know."""


def canon(e: etree._Element) -> str:
    wrapper = etree.Element("w")
    wrapper.append(etree.fromstring(etree.tostring(e)))
    return xmlcompare.canonical(etree.tostring(wrapper, encoding="unicode"))


def same(read: etree._Element, rendered: etree._Element) -> bool:
    return canon(read) == canon(rendered)


def text(e: etree._Element, tag: str, default: str | None = None) -> str:
    found = e.find(tag)
    if found is None:
        if default is None:
            raise NoMatch(tag)
        return default
    return found.text or ""


def number(e: etree._Element, tag: str) -> int | None:
    value = text(e, tag, "-1").strip()
    if not re.fullmatch(r"-?\d+", value):
        raise NoMatch(tag)
    return None if int(value) < 0 else int(value)


def flag(e: etree._Element, tag: str) -> bool:
    return text(e, tag, "false").strip() == "true"


def attempt(decode: Callable[[etree._Element], Any], render: Callable[[Any], etree._Element], e: etree._Element) -> Any:
    """``decode(e)`` when rendering the result gives ``e`` back; else None (the element stays raw)."""
    try:
        value = decode(e)
    except (NoMatch, ValueError, KeyError):
        return None
    return value if same(e, render(value)) else None


def discard(e: etree._Element) -> Discard:
    strategy = e if e.tag == "logRotator" else e.find("strategy")
    if strategy is None:
        raise NoMatch("strategy")
    days, builds = number(strategy, "daysToKeep"), number(strategy, "numToKeep")
    a_days, a_builds = number(strategy, "artifactDaysToKeep"), number(strategy, "artifactNumToKeep")
    return Discard(days, builds, a_days, a_builds, legacy=e.tag == "logRotator")


def param(e: etree._Element) -> Param:
    kind = _PARAM_KINDS[str(e.tag)]
    choices: tuple[str, ...] = ()
    if kind == "choice":
        choices = tuple(s.text or "" for s in e.iterfind("choices/a/string"))
    return Param(
        name=text(e, "name"),
        kind=kind,
        default=text(e, "defaultValue", "false" if kind == "boolean" else ""),
        description=text(e, "description", ""),
        choices=choices,
        trim=flag(e, "trim"),
        credential_type=text(e, "credentialType", ""),
        required=flag(e, "required"),
    )


def params(e: etree._Element) -> tuple[Param, ...]:
    return tuple(param(p) for p in e.iterfind("parameterDefinitions/*"))


def upstream(e: etree._Element) -> Upstream:
    name = text(e, "threshold/name")
    threshold = next(k for k, v in THRESHOLDS.items() if v[0] == name)
    return Upstream(text(e, "upstreamProjects"), threshold)


def binding(e: etree._Element) -> Binding:
    kind = _BINDING_KINDS[str(e.tag)]

    def get(tag: str) -> str:
        return text(e, tag, "")

    credentials = text(e, "credentialsId")
    if kind == "username-password":
        return Binding(credentials, get("usernameVariable"), get("passwordVariable"), kind)
    if kind == "ssh-key":
        return Binding(
            credentials, get("usernameVariable"), "", kind, get("keyFileVariable"), get("passphraseVariable")
        )
    if kind == "aws":
        return Binding(credentials, kind=kind, access_key=get("accessKeyVariable"), secret_key=get("secretKeyVariable"))
    return Binding(credentials, kind=kind, variable=get("variable"))


def timeout(e: etree._Element) -> Timeout:
    strategy = e.find("strategy")
    ops = [o.tag for o in e.iterfind("operationList/*")]
    if strategy is None or ops not in ([], ["hudson.plugins.build__timeout.operations.FailOperation"]):
        raise NoMatch("strategy")
    cls = strategy.get("class", "")
    env_var = text(e, "timeoutEnvVar", "")
    if cls.endswith("AbsoluteTimeOutStrategy"):
        return Timeout(int(text(strategy, "timeoutMinutes")), "absolute", bool(ops), env_var)
    seconds = int(text(strategy, "timeoutSecondsString"))
    if seconds % 60:
        raise NoMatch("timeoutSecondsString")
    return Timeout(seconds // 60, "no-activity", bool(ops), env_var)


def archive(e: etree._Element) -> Archive:
    return Archive(
        text(e, "artifacts"),
        text(e, "excludes", ""),
        flag(e, "allowEmptyArchive"),
        flag(e, "onlyIfSuccessful"),
        flag(e, "fingerprint"),
        text(e, "defaultExcludes", "true").strip() == "true",
        text(e, "caseSensitive", "true").strip() == "true",
        text(e, "followSymlinks", "true").strip() == "true",
    )


def junit(e: etree._Element) -> JUnit:
    scale = text(e, "healthScaleFactor", "1.0")
    return JUnit(text(e, "testResults"), flag(e, "allowEmptyResults"), flag(e, "keepLongStdio"), scale)


def mailer(e: etree._Element) -> Mail:
    every = text(e, "dontNotifyEveryUnstableBuild", "false").strip() != "true"
    return Mail(text(e, "recipients"), every, flag(e, "sendToIndividuals"))


def ansicolor(e: etree._Element) -> str:
    return text(e, "colorMapName")


def inject_passwords(e: etree._Element) -> InjectPasswords:
    if len(e.findall("passwordEntries/*")):
        raise NoMatch("passwordEntries")  # entries hold encrypted passwords: kept raw
    return InjectPasswords(flag(e, "injectGlobalPasswords"), flag(e, "maskPasswordParameters"))


def cleanup(e: etree._Element) -> Cleanup:
    return Cleanup(
        flag(e, "deleteDirs"), text(e, "cleanupParameter", ""), text(e, "externalDelete", ""),
        flag(e, "disableDeferredWipeout"),
    )  # fmt: skip


def browser(e: etree._Element) -> Browser:
    kinds = {cls: kind for kind, cls in parts.BROWSER_CLASSES.items()}
    return Browser(kinds[e.get("class", "")], text(e, "url"), text(e, "version", ""))


# --------------------------------------------------------------------------------------------- git


class Place:
    """The elements of one list place as read: typed ones in the renderer's order (``rank`` rising), raw
    ones anywhere, each remembered after how many typed ones it came."""

    def __init__(self, name: str, ordered: bool = True) -> None:
        self.name = name
        self.ordered = ordered  # False: a set Jenkins keys by class (properties, triggers, git extensions)
        self.rank = -1
        self.count = 0
        self.raw: list[tuple[int, etree._Element]] = []

    def fits(self, rank: int, repeat: bool = False) -> bool:
        """Whether a typed element of ``rank`` may come next (the renderer writes it after the others)."""
        return not self.ordered or rank > self.rank or (repeat and rank == self.rank)

    def typed(self, rank: int) -> None:
        self.rank = rank
        self.count += 1

    def keep_raw(self, e: etree._Element) -> None:
        self.raw.append((self.count if self.ordered else -1, e))  # in a set, where it stands does not count

    def split(self) -> tuple[str, tuple[RawAt, ...]]:
        """The raw XML after all typed elements, and the entries between them (neighbours grouped)."""
        tail = [e for after, e in self.raw if after in (-1, self.count)]
        groups: dict[int, list[etree._Element]] = {}
        for after, e in self.raw:
            if 0 <= after < self.count:
                groups.setdefault(after, []).append(e)
        between = tuple(RawAt(self.name, after, parts.raw_text(els)) for after, els in groups.items())
        return parts.raw_text(tail), between


_EXTENSION_RANKS = {
    tag: rank
    for rank, tags in enumerate(
        [
            ("CleanBeforeCheckout", "WipeWorkspace"),
            ("CleanCheckout",),
            ("CloneOption",),
            ("CheckoutOption",),
            ("RelativeTargetDirectory",),
            ("SubmoduleOption",),
            ("LocalBranch",),
        ]
    )
    for tag in (_EXT + t for t in tags)
}
_EXTENSION_DECODERS: dict[str, Callable[[etree._Element], dict[str, Any]]] = {
    _EXT + "CleanBeforeCheckout": lambda e: {"clean": "before-checkout"},
    _EXT + "WipeWorkspace": lambda e: {"clean": "wipe"},
    _EXT + "CleanCheckout": lambda e: {"clean_after": True},
    _EXT + "CloneOption": lambda e: {
        "shallow": flag(e, "shallow"),
        "no_tags": flag(e, "noTags"),
        "depth": number(e, "depth"),
        "clone_timeout": number(e, "timeout"),
        "honor_refspec": flag(e, "honorRefspec"),
    },
    _EXT + "CheckoutOption": lambda e: {"checkout_timeout": number(e, "timeout")},
    _EXT + "RelativeTargetDirectory": lambda e: {"subdirectory": text(e, "relativeTargetDir")},
    _EXT + "SubmoduleOption": lambda e: _submodules(e),
    _EXT + "LocalBranch": lambda e: {"local_branch": text(e, "localBranch")},
}


def _submodules(e: etree._Element) -> dict[str, Any]:
    m = Submodules(
        disable=flag(e, "disableSubmodules"),
        recursive=flag(e, "recursiveSubmodules"),
        tracking=flag(e, "trackingSubmodules"),
        reference=text(e, "reference", ""),
        parent_credentials=flag(e, "parentCredentials"),
        timeout=number(e, "timeout"),
        shallow=flag(e, "shallow"),
        depth=number(e, "depth"),
        threads=number(e, "threads"),
    )
    if m == Submodules(recursive=True, parent_credentials=True):
        return {"submodules": True}  # the common form, as the spec's submodules: true
    return {"submodule_options": m}


def _extension(git: Git, options: dict[str, Any], e: etree._Element) -> dict[str, Any] | None:
    """The options ``e`` decodes to, when rendering them gives ``e`` back; else None."""
    try:
        found = _EXTENSION_DECODERS[str(e.tag)](e)
    except (NoMatch, ValueError):
        return None
    before = {x.tag for x in parts.git_extensions(dataclasses.replace(git, **options))}
    trial = parts.git_extensions(dataclasses.replace(git, **{**options, **found}))
    rendered = [x for x in trial if x.tag == e.tag]
    if e.tag in before or {x.tag for x in trial} != before | {e.tag}:
        return None  # a second one of a class, or one that changes another typed extension
    return found if same(e, rendered[0]) else None


def extensions(git: Git, extensions: list[etree._Element], typed: bool) -> Git:
    """Git with the typed extensions found (a set: the git plugin keeps one of each class), the rest raw."""
    if not typed:
        return dataclasses.replace(git, extensions_raw=parts.raw_text(extensions))
    options: dict[str, Any] = {}
    place = Place("extensions", ordered=False)
    for e in extensions:
        rank = _EXTENSION_RANKS.get(str(e.tag), -1)
        found = _extension(git, options, e) if rank >= 0 and place.fits(rank) else None
        if found is None:
            place.keep_raw(e)
        else:
            options.update(found)
            place.typed(rank)
    tail, between = place.split()
    return dataclasses.replace(git, **options, extensions_raw=tail, extensions_between=between)


def git(scm: etree._Element, typed_extensions: bool = True) -> Git:
    remotes = [
        GitRemote(text(r, "url"), text(r, "credentialsId", "") or None, r.findtext("name"), r.findtext("refspec"))
        for r in scm.iterfind("userRemoteConfigs/*")
    ]
    branches = [text(b, "name") for b in scm.iterfind("branches/*")]
    if not remotes or not branches:
        raise NoMatch("userRemoteConfigs")
    first = remotes[0]
    known = {"configVersion", "userRemoteConfigs", "branches", "extensions"}
    found = scm.find("browser")
    typed_browser = None if found is None else attempt(browser, parts.browser, found)
    if typed_browser is not None:
        known.add("browser")
    others = [c for c in scm if isinstance(c.tag, str) and c.tag not in known and not xmlcompare.is_default(c)]
    git = Git(
        url=first.url,
        branch=branches[0],
        credentials=first.credentials,
        name=first.name,
        refspec=first.refspec,
        remotes=tuple(remotes[1:]),
        branches=tuple(branches[1:]),
        raw=parts.raw_text(others),
        browser=typed_browser,
    )
    return extensions(git, list(scm.iterfind("extensions/*")), typed_extensions)


def multibranch(name: str, root: etree._Element) -> Multibranch:
    """A WorkflowMultiBranchProject with one git branch source (anything else: NoMatch, kept whole raw)."""
    sources = root.findall("sources/data/jenkins.branch.BranchSource")
    source = sources[0].find("source") if len(sources) == 1 else None
    if source is None or source.get("class") != "jenkins.plugins.git.GitSCMSource":
        raise NoMatch("sources")
    kinds = {cls: trait for trait, cls in jobrender.TRAIT_CLASSES.items()}
    discover: list[str] = []
    raw: list[etree._Element] = []
    for t in source.iterfind("traits/*"):
        trait = kinds.get(str(t.tag))
        if trait is None or raw or len(t) or trait in discover:
            raw.append(t)
        else:
            discover.append(trait)
    strategy = root.find("orphanedItemStrategy")
    scan = root.findtext("triggers/com.cloudbees.hudson.plugins.folder.computed.PeriodicFolderTrigger/spec")
    return Multibranch(
        name=name,
        url=text(source, "remote"),
        description=root.findtext("description") or "",
        credentials=text(source, "credentialsId", "") or None,
        source_id="" if text(source, "id", "") == name else text(source, "id", ""),
        discover=tuple(discover),
        traits_raw=parts.raw_text(raw),
        script_path=text(root, "factory/scriptPath", "Jenkinsfile"),
        orphaned_days=None if strategy is None else number(strategy, "daysToKeep"),
        orphaned_builds=None if strategy is None else number(strategy, "numToKeep"),
        scan=scan if scan in jobrender.SCAN_INTERVALS else None,
    )
