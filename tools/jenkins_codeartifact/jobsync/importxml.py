"""config.xml read back into the job model: typed where the model knows the XML, raw XML where it does not.

Every typed element is proved on its own (:func:`.importparts.attempt`); what does not round-trip stays
raw XML in its place (properties, triggers, builders, publishers, buildWrappers, git extensions, the top
level). The item as a whole is then proved (:func:`prove`, the canonical form ``--verify`` uses); an item
that still differs falls back to raw places, then to its whole config.xml kept raw. Nothing read is
ever dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree

from . import configxml, jobrender, parts, xmlcompare
from . import importparts as ip
from .model import Common, Folder, Freestyle, Item, Multibranch, Pipeline, Raw, RawAt, RawItem

ENCRYPTED = re.compile(r"\{AQAAAB[A-Za-z0-9+/=]+\}")
Kind = Literal["typed", "partial", "raw"]
_CPS = "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"
_CPS_SCM = "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"
_WJ = "org.jenkinsci.plugins.workflow.job.properties."
_TYPED_ROOTS = ("project", "flow-definition", configxml.FOLDER_CLASS, jobrender.MULTIBRANCH)
# Top-level elements the renderer always writes (so raw XML at the top level must not repeat them).
RENDERED_TOP = frozenset(
    {
        "actions",
        "description",
        "keepDependencies",
        "properties",
        "scm",
        "canRoam",
        "disabled",
        "blockBuildWhenDownstreamBuilding",
        "blockBuildWhenUpstreamBuilding",
        "triggers",
        "concurrentBuild",
        "builders",
        "publishers",
        "buildWrappers",
        "definition",
    }
)


@dataclass(frozen=True)
class Imported:
    """One item read from config.xml: the model, how much of it is typed, and Jenkins-encrypted values."""

    item: Item
    kind: Kind
    encrypted: int = 0
    note: str = ""  # why an item is whole raw


@dataclass
class _Fields:
    """What the places of one config.xml decode to: keyword arguments, and raw XML per place."""

    common: dict[str, Any] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, list[etree._Element]] = field(default_factory=dict)
    places: dict[str, ip.Place] = field(default_factory=dict)

    def keep_raw(self, place: str, e: etree._Element) -> None:
        self.raw.setdefault(place, []).append(e)

    def place(self, name: str) -> ip.Place:
        return self.places.setdefault(name, ip.Place(name, ordered=name not in _UNORDERED))

    def common_model(self) -> Common:
        raw: dict[str, Any] = {place: parts.raw_text(els) for place, els in self.raw.items()}
        between: list[RawAt] = []
        for name, place in self.places.items():
            tail, entries = place.split()
            raw[name] = tail
            between.extend(entries)
        return Common(raw=Raw(**raw, between=tuple(between)), **self.common)


_UNORDERED = ("properties", "triggers")  # sets Jenkins keys by class: where an element stands does not matter
_PROPERTY_RANKS = {
    "jenkins.model.BuildDiscarderProperty": 0,
    "com.coravy.hudson.plugins.github.GithubProjectProperty": 1,
    "hudson.model.ParametersDefinitionProperty": 2,
}
_TRIGGER_RANKS = {
    "hudson.triggers.TimerTrigger": 0,
    "hudson.triggers.SCMTrigger": 1,
    "jenkins.triggers.ReverseBuildTrigger": 2,
    "com.cloudbees.jenkins.GitHubPushTrigger": 3,
}


def _property(f: _Fields, e: etree._Element) -> bool:
    tag = str(e.tag)
    if tag == "jenkins.model.BuildDiscarderProperty" and "discard" not in f.common:
        value = ip.attempt(ip.discard, parts.discard, e)
        return value is not None and f.common.setdefault("discard", value) is value
    if tag == "hudson.model.ParametersDefinitionProperty" and "parameters" not in f.common:
        params = ip.attempt(ip.params, parts.parameters, e)
        return bool(params) and f.common.setdefault("parameters", params) is params
    if tag == "com.coravy.hudson.plugins.github.GithubProjectProperty" and "github_url" not in f.common:
        url = ip.attempt(lambda x: ip.text(x, "projectUrl"), parts.github_project, e)
        return url is not None and f.common.setdefault("github_url", url) is url
    return False


def _trigger(f: _Fields, e: etree._Element) -> bool:
    tag = str(e.tag)
    spec: Callable[[etree._Element], str] = lambda x: ip.text(x, "spec")  # noqa: E731
    if tag == "hudson.triggers.TimerTrigger" and "cron" not in f.common:
        value = ip.attempt(spec, parts.timer, e)
        return value is not None and f.common.setdefault("cron", value) is value
    if tag == "hudson.triggers.SCMTrigger" and "poll" not in f.job:
        value = ip.attempt(spec, parts.scm_trigger, e)
        return value is not None and f.job.setdefault("poll", value) is value
    if tag == "jenkins.triggers.ReverseBuildTrigger" and "upstream" not in f.common:
        value = ip.attempt(ip.upstream, parts.upstream, e)
        return value is not None and f.common.setdefault("upstream", value) is value
    if (
        tag == "com.cloudbees.jenkins.GitHubPushTrigger"
        and "github_push" not in f.common
        and ip.same(e, parts.github_push())
    ):
        f.common["github_push"] = True
        return True
    return False


def _set(
    f: _Fields,
    place: str,
    children: list[etree._Element],
    decode: Callable[[_Fields, etree._Element], bool],
    ranks: dict[str, int],
) -> None:
    """A list place: each element typed when it decodes and comes in the renderer's order, else raw
    where it stands (between the typed ones)."""
    at = f.place(place)
    for e in children:
        rank = ranks.get(str(e.tag), -1)
        if rank >= 0 and at.fits(rank) and decode(f, e):
            at.typed(rank)
        else:
            at.keep_raw(e)


def _builders(f: _Fields, children: list[etree._Element]) -> None:
    """Shell steps typed, other steps raw where they stand (the order of steps is the order they run)."""
    shells: list[str] = []
    at = f.place("builders")
    for e in children:
        command = ip.attempt(lambda x: ip.text(x, "command"), parts.shell, e) if e.tag == "hudson.tasks.Shell" else None
        if command is None:
            at.keep_raw(e)
        else:
            shells.append(command)
            at.typed(0)
    f.job["shell"] = tuple(shells)


def _ordered(f: _Fields, place: str, children: list[etree._Element], typed: list[tuple[str, str, Any, Any]]) -> None:
    """A list place of single typed elements (archive, JUnit; timeout, bindings, timestamps), in the order
    they run: one that is not the renderer's is kept in ``order``."""
    at = f.place(place)
    keys: list[str] = []
    for e in children:
        rank = next((k for k, t in enumerate(typed) if t[0] == e.tag), -1)
        key = typed[rank][1] if rank >= 0 else ""
        value = None if rank < 0 or key in keys else ip.attempt(typed[rank][2], typed[rank][3], e)
        if value is None:
            at.keep_raw(e)
        else:
            f.job[key] = value
            keys.append(key)
            at.typed(rank)
    if keys != sorted(keys, key=[t[1] for t in typed].index):
        f.common["order"] = (*f.common.get("order", ()), (place, tuple(keys)))


_PUBLISHERS = [  # in ORDER_KEYS' order
    ("hudson.tasks.ArtifactArchiver", "archive", ip.archive, parts.archive),
    ("hudson.tasks.junit.JUnitResultArchiver", "junit", ip.junit, parts.junit),
    (parts.MAILER, "mail", ip.mailer, parts.mailer),
]
_WRAPPERS = [  # in ORDER_KEYS' order
    (parts.CLEANUP, "cleanup", ip.cleanup, parts.cleanup),
    (parts.TIMEOUT, "timeout", ip.timeout, parts.timeout),
    (
        "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper",
        "bindings",
        lambda e: _bindings(e),
        parts.bindings,
    ),
    ("hudson.plugins.timestamper.TimestamperBuildWrapper", "timestamps", lambda e: True, lambda v: _timestamper()),
    (parts.ANSICOLOR, "ansicolor", ip.ansicolor, parts.ansicolor),
    (parts.INJECT_PASSWORDS, "inject_passwords", ip.inject_passwords, parts.inject_passwords),
]


def _bindings(e: etree._Element) -> tuple[Any, ...]:
    found = tuple(ip.binding(b) for b in e.iterfind("bindings/*"))
    if not found:
        raise ip.NoMatch("bindings")
    return found


def _timestamper() -> etree._Element:
    return etree.Element("hudson.plugins.timestamper.TimestamperBuildWrapper")


def _top(f: _Fields, e: etree._Element, typed: dict[str, Callable[[etree._Element], None]]) -> None:
    handler = typed.get(str(e.tag))
    if handler is not None:
        handler(e)
    elif e.tag == "logRotator" and (d := ip.attempt(ip.discard, parts.discard, e)) is not None:
        f.common["discard"] = d
    elif not xmlcompare.is_default(e) and e.tag not in ("actions", "canRoam", "description"):
        if e.tag in RENDERED_TOP:  # the renderer writes it: a second one would be a duplicate field
            raise ip.NoMatch(str(e.tag))
        f.keep_raw("item", e)


def _common_top(f: _Fields) -> dict[str, Callable[[etree._Element], None]]:
    def put(key: str, convert: Callable[[str], Any], into: dict[str, Any]) -> Callable[[etree._Element], None]:
        return lambda e: into.__setitem__(key, convert(e.text or ""))

    return {
        "displayName": put("display_name", str, f.common),
        "quietPeriod": put("quiet_period", int, f.common),
        "assignedNode": put("label", str, f.common),
        "disabled": put("disabled", lambda t: t.strip() == "true", f.job),
    }


def _freestyle(name: str, root: etree._Element, typed: bool) -> Freestyle:
    f = _Fields()

    def children(tag: str) -> list[etree._Element]:
        return list(root.iterfind(f"{tag}/*"))

    handlers = _common_top(f)
    handlers.update(
        {
            "properties": lambda e: _set(
                f, "properties", children("properties"), _property if typed else _never, _PROPERTY_RANKS
            ),
            "triggers": lambda e: _set(
                f, "triggers", children("triggers"), _trigger if typed else _never, _TRIGGER_RANKS
            ),
            "builders": lambda e: (
                _builders(f, children("builders")) if typed else f.raw.update(builders=children("builders"))
            ),
            "publishers": lambda e: _ordered(f, "publishers", children("publishers"), _PUBLISHERS if typed else []),
            "buildWrappers": lambda e: _ordered(
                f, "buildWrappers", children("buildWrappers"), _WRAPPERS if typed else []
            ),
            "concurrentBuild": lambda e: f.job.__setitem__("concurrent", (e.text or "").strip() == "true"),
            "scmCheckoutRetryCount": lambda e: f.job.__setitem__("scm_retry", int(e.text or "")),
            "scm": lambda e: _scm(f, e, typed),
        }
    )
    for e in root:
        if isinstance(e.tag, str):
            _top(f, e, handlers)
    return Freestyle(name=name, description=root.findtext("description") or "", common=f.common_model(), **f.job)


def _never(f: _Fields, e: etree._Element) -> bool:
    return False


def _scm(f: _Fields, e: etree._Element, typed: bool) -> None:
    if e.get("class") == "hudson.plugins.git.GitSCM":
        f.job["git"] = ip.git(e, typed)
    elif e.get("class") != configxml.NULL_SCM:
        f.keep_raw("item", e)


def _pipeline(name: str, root: etree._Element, typed: bool) -> Pipeline:
    f = _Fields()
    handlers = _common_top(f)

    def properties(e: etree._Element) -> None:
        at = f.place("properties")
        for p in e:
            if (
                p.tag == _WJ + "DisableConcurrentBuildsJobProperty"
                and at.fits(0)
                and not [c for c in p if not xmlcompare.is_default(c)]
            ):
                f.job["concurrent"] = False
                at.typed(0)
            elif p.tag == _WJ + "PipelineTriggersJobProperty" and len(p) == 1 and at.fits(4):
                _set(f, "triggers", list(p.iterfind("triggers/*")), _trigger if typed else _never, _TRIGGER_RANKS)
                at.typed(4)
            elif typed and at.fits(_PROPERTY_RANKS.get(str(p.tag), -2) + 1) and _property(f, p):
                at.typed(_PROPERTY_RANKS[str(p.tag)] + 1)
            else:
                at.keep_raw(p)

    def definition(e: etree._Element) -> None:
        if e.get("class") == _CPS:
            f.job.update(script=ip.text(e, "script"), sandbox=ip.flag(e, "sandbox"))
        elif e.get("class") == _CPS_SCM and (scm := e.find("scm")) is not None:
            f.job.update(
                git=ip.git(scm, typed), script_path=ip.text(e, "scriptPath"), lightweight=ip.flag(e, "lightweight")
            )
        else:
            raise ip.NoMatch("definition")

    handlers.update({"properties": properties, "definition": definition})
    for e in root:
        if isinstance(e.tag, str):
            _top(f, e, handlers)
    return Pipeline(name=name, description=root.findtext("description") or "", common=f.common_model(), **f.job)


def decode_item(name: str, root: etree._Element, typed: bool) -> Item | None:
    """The model of ``root`` (typed per place when ``typed``), or None for a type or shape it does not know."""
    try:
        if root.tag == "project":
            return _freestyle(name, root, typed)
        if root.tag == "flow-definition":
            return _pipeline(name, root, typed)
        if root.tag == configxml.FOLDER_CLASS:
            return Folder(name, root.findtext("description") or "")
        if root.tag == jobrender.MULTIBRANCH:
            return ip.multibranch(name, root)
    except (ip.NoMatch, ValueError, TypeError):
        return None
    return None


def encrypted(xml: str) -> int:
    """How many Jenkins-encrypted values (``{AQAAAB...}``) the config holds."""
    return len(ENCRYPTED.findall(xml))


def prove(item: Item, xml: str) -> bool:
    """True when rendering ``item`` gives ``xml`` back, as ``--verify`` compares (marker aside)."""
    try:
        return xmlcompare.canonical(configxml.render_plain(item)) == xmlcompare.canonical(xml)
    except (etree.XMLSyntaxError, parts.RawXmlError, ValueError):
        return False


def kind_of(item: Item) -> Kind:
    if isinstance(item, RawItem):
        return "raw"
    if isinstance(item, Folder):
        return "typed"
    if isinstance(item, Multibranch):
        return "partial" if item.traits_raw else "typed"
    git = item.git
    if item.common.raw or (git is not None and (git.raw or git.extensions_raw or git.extensions_between)):
        return "partial"
    return "typed"


def read(name: str, xml: str) -> Imported:
    """``xml`` (one item's config.xml) as the model, proved; whole raw when nothing typed round-trips.

    Raises ValueError for text that is not XML at all.
    """
    n = encrypted(xml)
    try:
        root = configxml.xml_parse(xml)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"config.xml is not well-formed XML: {exc}") from None
    for typed in (True, False):
        item = decode_item(name, root, typed)
        if item is not None and prove(item, xml):
            return Imported(item, kind_of(item), n)
    known = root.tag in _TYPED_ROOTS
    note = (
        "does not round-trip through the typed model" if known else f"<{root.tag}> is an item type the model keeps raw"
    )
    return Imported(whole_raw(name, root), "raw", n, note)


def whole_raw(name: str, root: etree._Element) -> RawItem:
    """The item as its whole config.xml, ``plugin`` attributes left out (the typed parts leave them out too)."""
    tree = parts.strip_plugins(etree.fromstring(etree.tostring(root)))
    etree.indent(tree, space="  ")
    xml = "<?xml version='1.1' encoding='UTF-8'?>\n" + etree.tostring(tree, encoding="unicode") + "\n"
    return RawItem(name, xml, root.findtext("description") or "")
