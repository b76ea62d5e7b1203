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

from . import jobrender, parts
from .model import (
    HASHED_IF_SET,
    Archive,
    Binding,
    Common,
    Discard,
    Folder,
    Freestyle,
    Git,
    GitRemote,
    Item,
    JenkinsfileSpec,
    JUnit,
    Multibranch,
    Param,
    Pipeline,
    Raw,
    RawItem,
    Timeout,
    Upstream,
)

MARKER_PREFIX = "[managed by jobsync sha256:"
# Owners carry no whitespace or ']' (checked where they are resolved); item names cannot hold ']'.
_MARKER = re.compile(r"\[managed by jobsync sha256:([0-9a-f]{24})(?: owner=([^\s\]]+) name=([^\]\n]+))?\]\s*$")

FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
CLASSES = {
    Folder: FOLDER_CLASS,
    Freestyle: "hudson.model.FreeStyleProject",
    Pipeline: "org.jenkinsci.plugins.workflow.job.WorkflowJob",
    Multibranch: jobrender.MULTIBRANCH,
}
TYPE_NAMES = {
    FOLDER_CLASS: "folder",
    CLASSES[Freestyle]: "freestyle job",
    CLASSES[Pipeline]: "pipeline",
    CLASSES[Multibranch]: "multibranch pipeline",
}
NULL_SCM = jobrender.NULL_SCM
xml_parse = jobrender.xml_parse
# Classes Jenkins reports for the root elements of item types the model keeps as whole raw XML.
RAW_ROOTS = {
    "project": CLASSES[Freestyle],
    "flow-definition": CLASSES[Pipeline],
    "matrix-project": "hudson.matrix.MatrixProject",
    "maven2-moduleset": "hudson.maven.MavenModuleSet",
}


def item_class(item: Item) -> str:
    """The class Jenkins reports (``_class``) for ``item``."""
    if isinstance(item, RawItem):
        return RAW_ROOTS.get(item.root, item.root)
    return CLASSES[type(item)]


def is_folder(item: Item) -> bool:
    """A folder other items can sit in (a cloudbees folder, typed or raw)."""
    return isinstance(item, Folder) or (isinstance(item, RawItem) and item.is_folder)


def is_container(item: Item) -> bool:
    """An item the tree query lists with ``jobs``: folders, and computed folders (multibranch...)."""
    return (
        is_folder(item)
        or isinstance(item, Multibranch)
        or (isinstance(item, RawItem) and item_class(item) in CONTAINER_CLASSES)
    )


CONTAINER_CLASSES = frozenset(
    {"org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject", "jenkins.branch.OrganizationFolder"}
)


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    return parts.el(parent, tag, text, **attrib)


_bool = parts.boolean


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
    if isinstance(item, RawItem):
        return jobrender.raw_item(item, description)
    if isinstance(item, Folder):
        return _folder(item, description)
    if isinstance(item, Freestyle):
        return jobrender.freestyle(item, description)
    if isinstance(item, Multibranch):
        return jobrender.multibranch(item, description)
    return jobrender.pipeline(item, description)


_SHELL_SLOT = "\ue000jobsync shell step\ue000"  # private-use characters: no real command holds them


def _shape(item: Item) -> Item:
    """``item`` without what varies between a template's instances (name, description, shell text).

    Items of one shape render to the same tree but for the description's and the commands' text.
    """
    if isinstance(item, Freestyle):
        return dataclasses.replace(item, name="", description="", shell=(_SHELL_SLOT,) * len(item.shell))
    if isinstance(item, Multibranch):  # its source id defaults to its name
        return dataclasses.replace(item, description="")
    return dataclasses.replace(item, name="", description="")


@functools.lru_cache(maxsize=256)
def _prebuilt(shape: Item) -> etree._Element:
    return _build(shape, "")


def _tree(item: Item, description: str) -> etree._Element:
    """The config.xml tree of ``item``: a copy of its shape's prebuilt tree, its own texts filled in."""
    root = copy.deepcopy(_prebuilt(_shape(item)))
    desc = root.find("description")
    if desc is None:  # a raw item without a description: rebuilt with it
        return _build(item, description)
    desc.text = description
    if isinstance(item, Freestyle):
        # the typed steps (raw ones may sit between them): the commands the shape holds a slot in
        typed = [e for e in root.iterfind("builders/hudson.tasks.Shell/command") if e.text == _SHELL_SLOT]
        for command, el in zip(item.shell, typed, strict=True):
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
    Freestyle(
        name="all",
        git=Git(
            url="u",
            name="o",
            refspec="r",
            remotes=(GitRemote("v", "c", "n", "s"),),
            branches=("b",),
            shallow=True,
            depth=1,
            clone_timeout=2,
            no_tags=True,
            checkout_timeout=3,
            subdirectory="d",
            submodules=True,
            local_branch="l",
            clean_after=True,
            extensions_raw="<x/>",
            raw="<y/>",
        ),
        bindings=tuple(Binding("c", "U", "P", kind, "V", "Q", "A", "S") for kind in parts.BINDING_CLASSES),
        common=Common(
            display_name="n",
            label="l",
            quiet_period=1,
            discard=Discard(1, 2, 3, 4),
            parameters=tuple(Param("p", kind, "d", "t", ("a",), True, "c", True) for kind in parts.PARAM_CLASSES),
            cron="c",
            upstream=Upstream("u"),
            github_push=True,
            github_url="g",
            raw=Raw("<i/>", "<p/>", "<t/>", "<b/>", "<q/>", "<w/>"),
        ),
        concurrent=True,
        scm_retry=1,
        timeout=Timeout(1, "no-activity", True),
        archive=Archive("a", "e", True, True, True),
        junit=JUnit("j", True, True),
    ),
    Freestyle(name="legacy", common=Common(discard=Discard(legacy=True)), timeout=Timeout(2)),
    Pipeline(name="inline", script="s", sandbox=False, concurrent=False, common=Common(cron="c", quiet_period=1)),
    RawItem(name="raw", xml="<matrix-project><description>d</description></matrix-project>"),
    Multibranch(
        name="mb",
        url="u",
        credentials="c",
        source_id="i",
        discover=("branches", "tags"),
        traits_raw="<t/>",
        script_path="s",
        orphaned_days=1,
        orphaned_builds=2,
        scan="H H/4 * * *",
    ),
)


@functools.cache
def _renderer() -> str:
    """What a rendering depends on besides the item: how this code renders every kind of element.

    Probes covering each element and option are rendered once per process; a jobsync that renders
    differently therefore changes every hash once, and the next apply rewrites what it would write.
    """
    return hashlib.sha256("".join(_serialise(_tree(i, i.description)) for i in _PROBES).encode()).hexdigest()


_ALWAYS = object()  # a field that always counts in the content hash
_COMPARED: dict[type, tuple[tuple[str, object], ...]] = {}  # per dataclass: the fields that make its value
_PLAIN = (str, int, float, bool, type(None))
_PARTS: dict[object, object] = {}  # _fields of the parts template instances share (one Git, the same bindings)
_PART_TYPES = (Git, Binding, JenkinsfileSpec, Common)


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
        names = _COMPARED[cls] = tuple(
            (f.name, f.default if f.metadata.get(HASHED_IF_SET) else _ALWAYS)
            for f in dataclasses.fields(value)
            if f.compare
        )
    # a field added later counts only when set: the hashes of items that do not use it stay as they were
    out: list[object] = [cls.__name__]
    for n, default in names:
        v = getattr(value, n)
        if default is _ALWAYS or v != default:
            out.append(_fields(v))
    return tuple(out)


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


def render_plain(item: Item) -> str:
    """config.xml of ``item`` with the spec's description and no marker: what an import compares."""
    return _serialise(_tree(item, item.description))


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
