"""What ``--verify`` compares: config.xml as Jenkins serves it, its own rewrites undone.

Jenkins does not keep a POSTed config.xml as sent: it
unmarshals it into the item and, since 2.568 / LTS 2.555.3 (SECURITY-3744, ``AbstractItem.updateByXml``
and ``writeConfigDotXml``), GET serialises the item afresh through XStream; older versions do the same
on any later save (the UI's Save button, enable/disable, a plugin migration, a declarative pipeline's
first run). That writes an XML 1.1 prologue, ``plugin="x@version"`` attributes, its own indentation
and escapes, every field including the ones at their default, runtime state under ``<actions>``, a
class under its current name when we (or an older plugin) used a compatibility alias, and a
description typed in the UI with CRLF line ends (form fields are stored raw). Those rewrites are
undone here, and only where they mean the same to Jenkins as what we sent; any other value is kept and
compared, so a real hand edit still shows. What Jenkins cannot bind (an element of a plugin that is not
installed) it drops without an error: :func:`dropped` names it, so the job is reported rather than
re-sent on every run.
"""

from __future__ import annotations

import re

from lxml import etree

from .configxml import NULL_SCM

_PROLOGUE = re.compile(r"^\s*<\?xml[^>]*\?>\s*")

# What a Jenkins save writes by itself, in the form that means the same as leaving the element out
# (XStream reads an absent boolean as false and an absent list as empty). Dropped on both sides by
# canonical(); a ``true``, a non-empty list or another SCM class is kept and compared.
_FALSE_BY_DEFAULT = frozenset(
    {
        "keepDependencies",
        "disabled",
        "blockBuildWhenDownstreamBuilding",
        "blockBuildWhenUpstreamBuilding",
        "concurrentBuild",
        "doGenerateSubmoduleConfigurations",  # git plugin: a deprecated field it still writes
        # primitive booleans of the typed parts (XStream leaves an absent one false), and the git
        # plugin's pre-2.0 GitSCM fields that JJB still writes (false: what readResolve migrates to nothing)
        "trim",
        "required",
        "sandbox",
        "lightweight",
        "ignorePostCommitHooks",
        "shallow",
        "noTags",
        "honorRefspec",
        "deleteUntrackedNestedRepositories",
        "disableSubmodules",
        "recursiveSubmodules",
        "trackingSubmodules",
        "remotePoll",
        "pruneBranches",
        "skipTag",
        "authorOrCommitter",
        "wipeOutWorkspace",
        "ignoreNotifyCommit",
        "useShallowClone",
        "allowEmptyArchive",
        "onlyIfSuccessful",
        "latestOnly",  # ArtifactArchiver's deprecated field (false: what readResolve leaves)
        "fingerprint",
        "keepLongStdio",
        "allowEmptyResults",
        "skipPublishingChecks",
        "skipMarkingBuildUnstable",
    }
)
_EMPTY_BY_DEFAULT = frozenset(
    {
        "properties",
        "triggers",
        "builders",
        "publishers",
        "buildWrappers",
        "extensions",
        "configuredLocalRules",
        "submoduleCfg",  # git plugin: written as <submoduleCfg class="empty-list"/>
        # strings whose empty value reads as unset (null): Jenkins and the plugins treat both alike
        "description",
        "displayName",
        "defaultValue",
        "spec",
        "excludes",
        "reference",
        "gitConfigName",
        "gitConfigEmail",
        "operationList",
    }
)
# Lists whose order is the order things run or apply in: kept as they are. Elsewhere an element whose
# children are distinct field names (an object XStream wrote field by field), the item's top level and
# the sets Jenkins keys by class (job properties, triggers, git extensions) are compared without regard
# to order: JJB and the UI write the same fields in different orders, and XStream reads them by name.
_ORDERED = frozenset(
    {
        "builders",
        "publishers",
        "buildWrappers",
        "parameterDefinitions",
        "bindings",
        "userRemoteConfigs",
        "branches",
        "a",  # a choice parameter's string-array
    }
)
_UNORDERED_SETS = frozenset({"properties", "triggers", "extensions"})  # git's: one of each class
# Whole elements that carry no setting when nothing in them has text: the folder property the
# docker-workflow plugin adds on a UI save (<dockerLabel></dockerLabel><registry/>). It moved there from
# pipeline-model-definition (JENKINS-58732), which name docker-workflow still reads as an alias.
_BLANK_BY_DEFAULT = frozenset(
    {
        "org.jenkinsci.plugins.docker.workflow.declarative.FolderConfig",
        "org.jenkinsci.plugins.pipeline.modeldefinition.config.FolderConfig",
    }
)
# Elements whose text Jenkins stores as typed in a form, CRLF line ends included (a shell step's command
# is normalised by hudson.tasks.CommandInterpreter; a description is not).
_RAW_TEXT = frozenset({"description"})
# Which plugin each class prefix we render belongs to (core classes have none): to name what is missing.
_PLUGIN_PREFIXES = (
    ("hudson.plugins.git.", "git"),
    ("org.jenkinsci.plugins.credentialsbinding.", "credentials-binding"),
    ("hudson.plugins.timestamper.", "timestamper"),
    ("org.jenkinsci.plugins.workflow.cps.", "workflow-cps"),
    ("org.jenkinsci.plugins.workflow.job.", "workflow-job"),
    ("com.cloudbees.hudson.plugins.folder.", "cloudbees-folder"),
)


def parse(xml: str) -> etree._Element:
    """Parse config.xml text as Jenkins serves it (an XML 1.1 prologue libxml2 would warn about)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(_PROLOGUE.sub("", xml, count=1).encode("utf-8"), parser)


def _is_default(el: etree._Element) -> bool:
    """True for an element a Jenkins save writes by itself with a value equal to its absence."""
    tag = el.tag
    if len(el):
        return tag in _BLANK_BY_DEFAULT and not any((e.text or "").strip() for e in el.iter())
    text = (el.text or "").strip()
    if tag in _FALSE_BY_DEFAULT:
        return text == "false"
    if tag in _EMPTY_BY_DEFAULT or tag in _BLANK_BY_DEFAULT:
        return not text
    if tag == "gitTool":  # the default installation's name: the same tool as none named
        return text == "Default"
    return tag == "scm" and el.get("class") == NULL_SCM and not text


is_default = _is_default


def _unordered(el: etree._Element) -> bool:
    if el.tag in _ORDERED or len(el) < 2:
        return False
    if el.getparent() is None or el.tag in _UNORDERED_SETS:
        return True
    tags = [c.tag for c in el if isinstance(c.tag, str)]
    return len(set(tags)) == len(tags) and not any("." in t for t in tags)


def _sort_key(el: etree._Element) -> tuple[str, str]:
    return (str(el.tag), el.get("class", ""))


def _canonical_tree(root: etree._Element) -> etree._Element:
    root = etree.fromstring(etree.tostring(root))  # a copy: callers keep theirs
    actions = root.find("actions")
    if actions is not None:
        root.remove(actions)
    elements = list(root.iter())
    parents = {id(e) for e in elements if len(e)}  # their whitespace text is indentation, children gone or not
    for el in reversed(elements):  # children first: a list emptied of defaults is then one too
        if not isinstance(el.tag, str):
            continue
        parent = el.getparent()
        if parent is not None and _is_default(el):
            parent.remove(el)
            continue
        el.attrib.pop("plugin", None)
        if el.tag == "triggers" and el.get("class") == "vector":  # the pre-1.5 list type, read alike
            el.attrib.pop("class")
        if el.tag in _RAW_TEXT and el.text:
            el.text = el.text.replace("\r\n", "\n")
        if id(el) in parents and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
        if not len(el) and el.text == "":
            el.text = None
        if _unordered(el):
            el[:] = sorted(el, key=_sort_key)
    return root


def canonical(xml: str) -> str:
    """A stable text form for comparing and diffing: Jenkins's rewrites removed, values untouched.

    Drops ``plugin="x@ver"`` attributes and the prologue, ignores indentation between elements, drops
    the item's ``<actions>`` (runtime state Jenkins and plugins keep there, such as the declarative
    pipeline's job actions after a first build) and the elements a Jenkins save adds at their default
    (see ``_FALSE_BY_DEFAULT`` and friends), reads a description's CRLF as LF, then pretty-prints. The
    text of leaf elements (shell commands, descriptions) is otherwise kept byte for byte.
    """
    text: str = etree.tostring(_canonical_tree(parse(xml)), encoding="unicode", pretty_print=True)
    return text


def plugin_of(cls: str) -> str | None:
    return next((plugin for prefix, plugin in _PLUGIN_PREFIXES if cls.startswith(prefix)), None)


def _signature(el: etree._Element) -> tuple[tuple[str, str], ...]:
    """Where ``el`` sits: the tag and class of it and each ancestor."""
    return tuple((str(e.tag), e.get("class", "")) for e in [el, *el.iterancestors()])


def dropped(server: str, sent: str) -> list[tuple[str, str]]:
    """(class, plugin) of each element we sent that the server's config.xml lacks, when that alone is the
    difference: Jenkins drops what no installed plugin can bind. Empty when anything else differs."""
    ours, theirs = _canonical_tree(parse(sent)), _canonical_tree(parse(server))
    present = {_signature(el) for el in theirs.iter() if isinstance(el.tag, str)}
    missing = []
    for el in list(ours.iter()):
        if not isinstance(el.tag, str) or not any(a is ours for a in el.iterancestors()):
            continue  # a comment, the root, or inside an element already taken out
        cls = el.get("class") or (el.tag if "." in el.tag else "")
        plugin = plugin_of(cls)
        if plugin and _signature(el) not in present:
            missing.append((cls, plugin))
            parent = el.getparent()
            assert parent is not None
            parent.remove(el)
    same = etree.tostring(_canonical_tree(ours)) == etree.tostring(theirs)
    return sorted(missing) if missing and same else []
