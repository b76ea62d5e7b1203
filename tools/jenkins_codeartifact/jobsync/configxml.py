"""config.xml rendering with lxml and the managed-job marker (:mod:`.xmlcompare` compares with the server).

Elements and plugin classes are the ones Jenkins and its plugins write when you save the same job in
the UI (minus the ``plugin="x@version"`` attributes, which Jenkins fills in and which would tie the specs
to one plugin version). Values go through lxml, never string formatting, so ``<``, ``&``, quotes,
``${...}`` and non-ASCII survive exactly.

The description carries a marker ``[managed by jobsync sha256:<hash> owner=<owner> name=<full name>]``
where the hash covers what the XML is rendered from (the item's fields and this module's code), so
equal hashes mean an identical config.xml and no XML is built to find out. One tree query returning names and
descriptions then tells which jobs are whose, whether they are current, and which are copies (a UI
copy keeps the description, so its marker names the item it was copied from), without fetching any
config.xml. The description survives every Jenkins save and is compared verbatim by :func:`.xmlcompare.canonical`.
A marker without ``owner=``/``name=`` is the format of older jobsync versions (see :func:`parse_marker`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from .model import Binding, Folder, Freestyle, Git, Item, JenkinsfileSpec, Pipeline

MARKER_PREFIX = "[managed by jobsync sha256:"
# Owners carry no whitespace or ']' (checked where they are resolved); item names cannot hold ']'.
_MARKER = re.compile(r"\[managed by jobsync sha256:([0-9a-f]{24})(?: owner=([^\s\]]+) name=([^\]\n]+))?\]\s*$")

FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
CLASSES = {
    Folder: FOLDER_CLASS,
    Freestyle: "hudson.model.FreeStyleProject",
    Pipeline: "org.jenkinsci.plugins.workflow.job.WorkflowJob",
}
TYPE_NAMES = {FOLDER_CLASS: "folder", CLASSES[Freestyle]: "freestyle job", CLASSES[Pipeline]: "pipeline"}
NULL_SCM = "hudson.scm.NullSCM"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    child = etree.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text
    return child


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _git(parent: etree._Element, git: Git) -> None:
    scm = _el(parent, "scm", **{"class": "hudson.plugins.git.GitSCM"})
    _el(scm, "configVersion", "2")
    remotes = _el(scm, "userRemoteConfigs")
    remote = _el(remotes, "hudson.plugins.git.UserRemoteConfig")
    _el(remote, "url", git.url)
    if git.credentials:
        _el(remote, "credentialsId", git.credentials)
    branches = _el(scm, "branches")
    _el(_el(branches, "hudson.plugins.git.BranchSpec"), "name", git.branch)
    extensions = _el(scm, "extensions")
    if git.clean == "before-checkout":
        clean = _el(extensions, "hudson.plugins.git.extensions.impl.CleanBeforeCheckout")
        _el(clean, "deleteUntrackedNestedRepositories", "false")
    elif git.clean == "wipe":
        _el(extensions, "hudson.plugins.git.extensions.impl.WipeWorkspace")


def _triggers(parent: etree._Element, poll: str | None) -> None:
    triggers = _el(parent, "triggers")
    if poll is not None:
        trigger = _el(triggers, "hudson.triggers.SCMTrigger")
        _el(trigger, "spec", poll)
        _el(trigger, "ignorePostCommitHooks", "false")


def _freestyle(job: Freestyle, description: str) -> etree._Element:
    root = etree.Element("project")
    _el(root, "actions")
    _el(root, "description", description)
    _el(root, "keepDependencies", "false")
    _el(root, "properties")
    if job.git:
        _git(root, job.git)
    else:
        _el(root, "scm", **{"class": NULL_SCM})
    _el(root, "canRoam", "true")
    _el(root, "disabled", _bool(job.disabled))
    _el(root, "blockBuildWhenDownstreamBuilding", "false")
    _el(root, "blockBuildWhenUpstreamBuilding", "false")
    _triggers(root, job.poll)
    _el(root, "concurrentBuild", "false")
    builders = _el(root, "builders")
    for command in job.shell:
        shell = _el(builders, "hudson.tasks.Shell")
        _el(shell, "command", command)
        _el(shell, "configuredLocalRules")
    _el(root, "publishers")
    wrappers = _el(root, "buildWrappers")
    if job.bindings:
        wrapper = _el(wrappers, "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper")
        bindings = _el(wrapper, "bindings")
        for b in job.bindings:
            binding = _el(bindings, "org.jenkinsci.plugins.credentialsbinding.impl.UsernamePasswordMultiBinding")
            _el(binding, "credentialsId", b.credentials)
            _el(binding, "usernameVariable", b.username)
            _el(binding, "passwordVariable", b.password)
    if job.timestamps:
        _el(wrappers, "hudson.plugins.timestamper.TimestamperBuildWrapper")
    return root


def _pipeline(job: Pipeline, description: str) -> etree._Element:
    root = etree.Element("flow-definition")
    _el(root, "actions")
    _el(root, "description", description)
    _el(root, "keepDependencies", "false")
    properties = _el(root, "properties")
    if job.poll is not None:
        prop = _el(properties, "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty")
        _triggers(prop, job.poll)
    definition = _el(root, "definition", **{"class": "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"})
    _git(definition, job.git)
    _el(definition, "scriptPath", job.script_path)
    _el(definition, "lightweight", _bool(job.lightweight))
    _el(root, "triggers")
    _el(root, "disabled", _bool(job.disabled))
    return root


def _folder(folder: Folder, description: str) -> etree._Element:
    root = etree.Element(FOLDER_CLASS)
    _el(root, "actions")
    _el(root, "description", description)
    _el(root, "properties")
    views = _el(root, "folderViews", **{"class": "com.cloudbees.hudson.plugins.folder.views.DefaultFolderViewHolder"})
    all_view = _el(_el(views, "views"), "hudson.model.AllView")
    _el(all_view, "owner", **{"class": FOLDER_CLASS, "reference": "../../../.."})
    _el(all_view, "name", "All")
    _el(all_view, "filterExecutors", "false")
    _el(all_view, "filterQueue", "false")
    _el(all_view, "properties", **{"class": "hudson.model.View$PropertyList"})
    _el(views, "tabBar", **{"class": "hudson.views.DefaultViewsTabBar"})
    _el(root, "healthMetrics")
    _el(root, "icon", **{"class": "com.cloudbees.hudson.plugins.folder.icons.StockFolderIcon"})
    return root


def _build(item: Item, description: str) -> etree._Element:
    if isinstance(item, Folder):
        return _folder(item, description)
    if isinstance(item, Freestyle):
        return _freestyle(item, description)
    return _pipeline(item, description)


def _shape(item: Item) -> Item:
    """``item`` without what varies between a template's instances (name, description, shell text).

    Items of one shape render to the same tree but for the description's and the commands' text.
    """
    if isinstance(item, Freestyle):
        return dataclasses.replace(item, name="", description="", shell=("",) * len(item.shell))
    return dataclasses.replace(item, name="", description="")


@functools.lru_cache(maxsize=256)
def _prebuilt(shape: Item) -> etree._Element:
    return _build(shape, "")


def _tree(item: Item, description: str) -> etree._Element:
    """The config.xml tree of ``item``: a copy of its shape's prebuilt tree, its own texts filled in."""
    root = copy.deepcopy(_prebuilt(_shape(item)))
    desc = root.find("description")
    assert desc is not None
    desc.text = description
    if isinstance(item, Freestyle):
        for command, el in zip(item.shell, root.iterfind("builders/hudson.tasks.Shell/command"), strict=True):
            el.text = command
    return root


def _serialise(root: etree._Element) -> str:
    body: str = etree.tostring(root, encoding="unicode", pretty_print=True)
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + body


@dataclass(frozen=True)
class Marker:
    """What a managed description says: content hash, and (current format) owner and the item's own name."""

    hash: str
    owner: str | None
    name: str | None


def _marker(description: str, digest: str, owner: str | None = None, name: str = "") -> str:
    """``description`` with the managed marker appended (the marker alone when it is empty)."""
    who = f" owner={owner} name={name}" if owner else ""
    marker = f"{MARKER_PREFIX}{digest}{who}]"
    return f"{description}\n\n{marker}" if description else marker


@functools.lru_cache(maxsize=32768)  # diff and apply both ask; one tree build per item per run
def _rendered(item: Item) -> tuple[str, str]:
    """(hash, config.xml), the marker in its description."""
    digest = content_hash(item)
    root = _tree(item, _marker(item.description, digest))
    return digest, _serialise(root)


_PROBE_GIT = Git(url="https://git.example.com/r.git", branch="*/b", credentials="c", clean="before-checkout")
_PROBES = (
    Folder(name="f", description="d"),
    Freestyle(  # noqa: S604 - a job spec's shell step, not a subprocess call
        name="j",
        description="d",
        git=_PROBE_GIT,
        poll="H * * * *",
        bindings=(Binding(credentials="c", username="U", password="P"),),
        shell=("make",),
        timestamps=True,
        disabled=True,
    ),
    Freestyle(name="k", git=Git(url="u", clean="wipe")),
    Pipeline(name="p", git=_PROBE_GIT, description="d", lightweight=False, poll="H * * * *", disabled=True),
)


@functools.cache
def _renderer() -> str:
    """What a rendering depends on besides the item: how this code renders every kind of element.

    Probes covering each element and option are rendered once per process; a jobsync that renders
    differently therefore changes every hash once, and the next apply rewrites what it would write.
    """
    return hashlib.sha256("".join(_serialise(_tree(i, i.description)) for i in _PROBES).encode()).hexdigest()


_COMPARED: dict[type, tuple[str, ...]] = {}  # per dataclass: the fields that make its value
_PLAIN = (str, int, float, bool, type(None))
_PARTS: dict[object, object] = {}  # _fields of the parts template instances share (one Git, the same bindings)
_PART_TYPES = (Git, Binding, JenkinsfileSpec)


def _fields(value: object) -> object:
    """``value`` as nested tuples of the fields that make an item (not its source line, not old names)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple):
        return tuple(_fields(v) for v in value)
    if isinstance(value, _PART_TYPES):
        done = _PARTS.get(value)
        if done is None:
            done = _PARTS[value] = _item_fields(value)
        return done
    return _item_fields(value)


def _item_fields(value: object) -> object:
    cls = type(value)
    names = _COMPARED.get(cls)
    if names is None:
        assert dataclasses.is_dataclass(value), cls
        names = _COMPARED[cls] = tuple(f.name for f in dataclasses.fields(value) if f.compare)
    return (cls.__name__, *(_fields(getattr(value, n)) for n in names))


@functools.lru_cache(maxsize=32768)
def content_hash(item: Item) -> str:
    """Hash of everything the rendered config.xml is made of (the item's fields, the renderer's code).

    Equal hashes mean an identical config.xml. Computed without rendering, so that a no-op plan of
    10,000 jobs costs string work, not 10,000 XML trees.
    """
    return hashlib.sha256(repr((_renderer(), _fields(item))).encode("utf-8")).hexdigest()[:24]


def described(item: Item, owner: str | None = None) -> str:
    """The description as stored on the server: the spec's text plus the managed marker.

    Without ``owner`` the marker has the older, ownerless format (offline renders without a known owner).
    """
    return _marker(item.description, content_hash(item), owner, item.name)


def render(item: Item, owner: str | None = None) -> str:
    """The config.xml text for ``item``, marker included, exactly as POSTed to Jenkins."""
    xml = _rendered(item)[1]
    if owner is None:
        return xml
    # The marker ends the description: completing it in place keeps the cached rendering.
    digest = content_hash(item)
    head, sep, tail = xml.rpartition(f"sha256:{digest}]")
    assert sep, "rendered description lost its marker"
    return f"{head}sha256:{digest}{xml_escape(f' owner={owner} name={item.name}')}]{tail}"


def write(items: Iterable[Item], directory: Path, owner: str | None = None) -> list[Path]:
    """Write ``DIRECTORY/NAME.xml`` for every item (folders become subdirectories); the files written."""
    written = []
    made: set[Path] = set()  # one mkdir per folder, not per item
    for item in items:
        target = directory / f"{item.name}.xml"
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        with open(target, "w", encoding="utf-8") as f:
            f.write(render(item, owner))
        written.append(target)
    return written


def same_description(server: str | None, ours: str) -> bool:
    """True when the server's description is ours, a UI save's CRLF line ends aside."""
    return (server or "").replace("\r\n", "\n") == ours.replace("\r\n", "\n")


def parse_marker(description: str | None) -> Marker | None:
    """The trailing marker of a server description, or ``None`` for an item jobsync never wrote."""
    m = _MARKER.search(description or "")
    return Marker(m.group(1), m.group(2), m.group(3)) if m else None


def marker_hash(description: str | None) -> str | None:
    """The hash in a server description's trailing marker, or ``None`` for a job we do not manage."""
    m = parse_marker(description)
    return m.hash if m else None
