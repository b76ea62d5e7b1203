"""config.xml trees of freestyle and pipeline jobs and of whole-raw items, from their parts (:mod:`.parts`).

Element order is the order Jenkins writes when the job is saved in the UI (AbstractProject/Project and
WorkflowJob fields); raw XML of each place follows the typed elements there. :mod:`.configxml` adds the
marker, caches and serialises.
"""

from __future__ import annotations

import re

from lxml import etree

from . import parts
from .model import ORDER_KEYS, Common, Freestyle, Multibranch, Pipeline, RawItem

NULL_SCM = "hudson.scm.NullSCM"
_PROLOGUE = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def xml_parse(xml: str) -> etree._Element:
    """Parse config.xml text (an XML 1.1 prologue as Jenkins writes it is accepted)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(_PROLOGUE.sub("", xml, count=1).encode("utf-8"), parser)


_el = parts.el
_bool = parts.boolean


def trigger_elements(common: Common, poll: str | None) -> list[etree._Element]:
    """The typed triggers (timer, SCM poll, upstream, GitHub push), then the raw ones."""
    out = []
    if common.cron is not None:
        out.append(parts.timer(common.cron))
    if poll is not None:
        out.append(parts.scm_trigger(poll))
    if common.upstream is not None:
        out.append(parts.upstream(common.upstream))
    if common.github_push:
        out.append(parts.github_push())
    return parts.placed(out, common.raw.triggers, common.raw.at("triggers"))


def property_elements(common: Common) -> list[etree._Element]:
    """The job properties both job types share, in the order a UI save writes them."""
    out = []
    if common.discard is not None and not common.discard.legacy:
        out.append(parts.discard(common.discard))
    if common.github_url is not None:
        out.append(parts.github_project(common.github_url))
    if common.parameters:
        out.append(parts.parameters(common.parameters))
    return out


def _head(root: etree._Element, common: Common, description: str) -> None:
    _el(root, "actions")
    _el(root, "description", description)
    if common.display_name is not None:
        _el(root, "displayName", common.display_name)
    if common.discard is not None and common.discard.legacy:
        root.append(parts.discard(common.discard))
    _el(root, "keepDependencies", "false")


def freestyle(job: Freestyle, description: str) -> etree._Element:
    c = job.common
    root = etree.Element("project")
    _head(root, c, description)
    properties = _el(root, "properties")
    properties.extend(parts.placed(property_elements(c), c.raw.properties, c.raw.at("properties")))
    raw_top = parts.raw_elements(c.raw.item)
    if job.git:
        root.append(parts.git_scm(job.git))
    elif not any(e.tag == "scm" for e in raw_top):  # another SCM plugin's, kept raw
        _el(root, "scm", **{"class": NULL_SCM})
    if c.quiet_period is not None:
        _el(root, "quietPeriod", str(c.quiet_period))
    if job.scm_retry is not None:
        _el(root, "scmCheckoutRetryCount", str(job.scm_retry))
    if c.label is not None:
        _el(root, "assignedNode", c.label)
    _el(root, "canRoam", _bool(c.label is None))
    _el(root, "disabled", _bool(job.disabled))
    _el(root, "blockBuildWhenDownstreamBuilding", "false")
    _el(root, "blockBuildWhenUpstreamBuilding", "false")
    _el(root, "triggers").extend(trigger_elements(c, job.poll))
    _el(root, "concurrentBuild", _bool(job.concurrent))
    builders = [parts.shell(command) for command in job.shell]
    _el(root, "builders").extend(parts.placed(builders, c.raw.builders, c.raw.at("builders")))
    _el(root, "publishers").extend(parts.placed(publisher_elements(job), c.raw.publishers, c.raw.at("publishers")))
    wrappers = parts.placed(wrapper_elements(job), c.raw.buildWrappers, c.raw.at("buildWrappers"))
    _el(root, "buildWrappers").extend(wrappers)
    root.extend(raw_top)
    return root


def _in_order(job: Freestyle, place: str, typed: list[tuple[str, etree._Element]]) -> list[etree._Element]:
    """``typed`` (key, element) pairs in the job's own order for ``place`` when it has one."""
    keys = job.common.ordered(place)
    if not keys:
        return [e for _, e in typed]
    by_key = dict(typed)
    return [by_key[k] for k in keys]  # the keys are those of the typed elements (checked on load)


def publisher_elements(job: Freestyle) -> list[etree._Element]:
    """The typed publishers of a freestyle job, in the renderer's order or the job's."""
    out = []
    if job.archive is not None:
        out.append(("archive", parts.archive(job.archive)))
    if job.junit is not None:
        out.append(("junit", parts.junit(job.junit)))
    if job.mail is not None:
        out.append(("mail", parts.mailer(job.mail)))
    return _in_order(job, "publishers", out)


def wrapper_elements(job: Freestyle) -> list[etree._Element]:
    """The typed build wrappers of a freestyle job, in the renderer's order or the job's."""
    out = []
    if job.cleanup is not None:
        out.append(("cleanup", parts.cleanup(job.cleanup)))
    if job.timeout is not None:
        out.append(("timeout", parts.timeout(job.timeout)))
    if job.bindings:
        out.append(("bindings", parts.bindings(job.bindings)))
    if job.timestamps:
        out.append(("timestamps", etree.Element("hudson.plugins.timestamper.TimestamperBuildWrapper")))
    if job.ansicolor is not None:
        out.append(("ansicolor", parts.ansicolor(job.ansicolor)))
    if job.inject_passwords is not None:
        out.append(("inject_passwords", parts.inject_passwords(job.inject_passwords)))
    return _in_order(job, "buildWrappers", out)


def typed_keys(job: Freestyle, place: str) -> tuple[str, ...]:
    """The keys of the typed elements ``job`` has in ``place`` (publishers, buildWrappers)."""
    present = {
        "archive": job.archive is not None,
        "junit": job.junit is not None,
        "timeout": job.timeout is not None,
        "bindings": bool(job.bindings),
        "timestamps": job.timestamps,
        "mail": job.mail is not None,
        "cleanup": job.cleanup is not None,
        "ansicolor": job.ansicolor is not None,
        "inject_passwords": job.inject_passwords is not None,
    }
    return tuple(k for k in ORDER_KEYS[place] if present[k])


def pipeline_properties(job: Pipeline) -> list[etree._Element]:
    """The typed properties of a pipeline job (its triggers property included), in the renderer's order."""
    c = job.common
    out = []
    if not job.concurrent:
        out.append(etree.Element("org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"))
    out.extend(property_elements(c))
    triggers = trigger_elements(c, job.poll)
    if triggers:
        prop = etree.Element("org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty")
        _el(prop, "triggers").extend(triggers)
        out.append(prop)
    return out


def typed_count(job: Freestyle | Pipeline, place: str) -> int:
    """How many typed elements ``job`` renders in ``place`` (where raw XML between them may go)."""
    c = job.common
    if place == "extensions":
        return 0 if job.git is None else len(parts.git_extensions(job.git))
    if place == "triggers":
        return sum((c.cron is not None, job.poll is not None, c.upstream is not None, c.github_push))
    if isinstance(job, Pipeline):
        return len(pipeline_properties(job)) if place == "properties" else 0
    counts = {
        "properties": lambda: len(property_elements(c)),
        "builders": lambda: len(job.shell),
        "publishers": lambda: len(publisher_elements(job)),
        "buildWrappers": lambda: len(wrapper_elements(job)),
    }
    return counts[place]()


def pipeline(job: Pipeline, description: str) -> etree._Element:
    c = job.common
    root = etree.Element("flow-definition")
    _head(root, c, description)
    properties = parts.placed(pipeline_properties(job), c.raw.properties, c.raw.at("properties"))
    _el(root, "properties").extend(properties)
    if job.script is not None:
        definition = _el(root, "definition", **{"class": "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"})
        _el(definition, "script", job.script)
        _el(definition, "sandbox", _bool(job.sandbox))
    else:
        assert job.git is not None, "a pipeline from SCM needs git (checked when specs load)"
        definition = _el(root, "definition", **{"class": "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"})
        definition.append(parts.git_scm(job.git))
        _el(definition, "scriptPath", job.script_path)
        _el(definition, "lightweight", _bool(job.lightweight))
    _el(root, "triggers")
    if c.quiet_period is not None:
        _el(root, "quietPeriod", str(c.quiet_period))
    _el(root, "disabled", _bool(job.disabled))
    root.extend(parts.raw_elements(c.raw.item))
    return root


def raw_item(item: RawItem, description: str) -> etree._Element:
    """The item's own config.xml with ``description`` in its description element."""
    root = xml_parse(item.xml)
    desc = root.find("description")
    if desc is None:
        if not description:
            return root
        desc = etree.Element("description")
        actions = root.find("actions")
        root.insert(0 if actions is None else root.index(actions) + 1, desc)
    desc.text = description
    return root


MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
_OWNER = {"class": MULTIBRANCH, "reference": "../.."}
TRAIT_CLASSES = {
    "branches": "jenkins.plugins.git.traits.BranchDiscoveryTrait",
    "tags": "jenkins.plugins.git.traits.TagDiscoveryTrait",
}


def _orphaned(root: etree._Element, mb: Multibranch) -> None:
    strategy = _el(
        root,
        "orphanedItemStrategy",
        **{"class": "com.cloudbees.hudson.plugins.folder.computed.DefaultOrphanedItemStrategy"},
    )
    _el(strategy, "pruneDeadBranches", "true")
    _el(strategy, "daysToKeep", str(-1 if mb.orphaned_days is None else mb.orphaned_days))
    _el(strategy, "numToKeep", str(-1 if mb.orphaned_builds is None else mb.orphaned_builds))
    _el(strategy, "abortBuilds", "false")


def _source(root: etree._Element, mb: Multibranch) -> None:
    sources = _el(root, "sources", **{"class": "jenkins.branch.MultiBranchProject$BranchSourceList"})
    branch_source = _el(_el(sources, "data"), "jenkins.branch.BranchSource")
    source = _el(branch_source, "source", **{"class": "jenkins.plugins.git.GitSCMSource"})
    _el(source, "id", mb.source_id or mb.name)
    _el(source, "remote", mb.url)
    _el(source, "credentialsId", mb.credentials or "")
    traits = _el(source, "traits")
    for trait in mb.discover:
        _el(traits, TRAIT_CLASSES[trait])
    traits.extend(parts.raw_elements(mb.traits_raw))
    strategy = _el(branch_source, "strategy", **{"class": "jenkins.branch.DefaultBranchPropertyStrategy"})
    _el(strategy, "properties", **{"class": "empty-list"})
    _el(sources, "owner", **_OWNER)


def multibranch(mb: Multibranch, description: str) -> etree._Element:
    """``WorkflowMultiBranchProject`` as branch-api and workflow-multibranch save it."""
    root = etree.Element(MULTIBRANCH)
    _el(root, "actions")
    _el(root, "description", description)
    _el(root, "properties")
    _el(_el(root, "folderViews", **{"class": "jenkins.branch.MultiBranchProjectViewHolder"}), "owner", **_OWNER)
    _el(root, "healthMetrics")
    _el(_el(root, "icon", **{"class": "jenkins.branch.MetadataActionFolderIcon"}), "owner", **_OWNER)
    _orphaned(root, mb)
    triggers = _el(root, "triggers")
    if mb.scan is not None:
        trigger = _el(triggers, "com.cloudbees.hudson.plugins.folder.computed.PeriodicFolderTrigger")
        _el(trigger, "spec", mb.scan)
        _el(trigger, "interval", _interval(mb.scan))
    _el(root, "disabled", "false")
    _source(root, mb)
    factory = _el(
        root, "factory", **{"class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowBranchProjectFactory"}
    )
    _el(factory, "owner", **_OWNER)
    _el(factory, "scriptPath", mb.script_path)
    return root


# PeriodicFolderTrigger's UI choices ("1d", "4h"...) as Jenkins stores them: a cron spec and milliseconds.
SCAN_INTERVALS = {
    "H/5 * * * *": 300000,
    "H/15 * * * *": 900000,
    "H * * * *": 3600000,
    "H H/2 * * *": 7200000,
    "H H/4 * * *": 14400000,
    "H H/8 * * *": 28800000,
    "H H * * *": 86400000,
    "H H * * H": 604800000,
}


def _interval(spec: str) -> str:
    return str(SCAN_INTERVALS[spec])
