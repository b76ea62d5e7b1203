"""Golden tests: YAML in (tests/golden/jobs/CASE.yml), config.xml out (CASE.xml), for every option.

Regenerate after an intended change with ``JOBSYNC_REGEN_GOLDEN=1 python -m pytest tests/unit/test_jobs_render.py``
and review the diff: the goldens are the contract with Jenkins.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from jenkins_codeartifact.jenkins import configxml, model

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "jobs"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yml"))


def render_all(specs: model.Specs) -> str:
    return "".join(f"==> {item.name} <==\n{configxml.render(item)}\n" for item in specs.items)


def load_case(case: str, tmp_path: Path) -> model.Specs:
    shutil.copy(GOLDEN / f"{case}.yml", tmp_path / f"{case}.yml")
    return model.load(tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_golden(case, tmp_path):
    text = render_all(load_case(case, tmp_path))
    expected = GOLDEN / f"{case}.xml"
    if os.environ.get("JOBSYNC_REGEN_GOLDEN"):
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8")


def test_every_plugin_class_is_covered_by_a_golden():
    text = "".join((GOLDEN / f"{c}.xml").read_text(encoding="utf-8") for c in CASES)
    for needle in (
        "hudson.plugins.git.GitSCM",
        "hudson.plugins.git.UserRemoteConfig",
        "hudson.plugins.git.BranchSpec",
        "hudson.plugins.git.extensions.impl.CleanBeforeCheckout",
        "hudson.plugins.git.extensions.impl.WipeWorkspace",
        "hudson.triggers.SCMTrigger",
        "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper",
        "org.jenkinsci.plugins.credentialsbinding.impl.UsernamePasswordMultiBinding",
        "hudson.tasks.Shell",
        "hudson.plugins.timestamper.TimestamperBuildWrapper",
        "<flow-definition>",
        "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition",
        "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty",
        "com.cloudbees.hudson.plugins.folder.Folder",
        "hudson.scm.NullSCM",
        "<credentialsId>",
        "<lightweight>false</lightweight>",
        "<disabled>true</disabled>",
    ):
        assert needle in text, needle


def test_template_keeps_shell_variables_and_literal_braces(tmp_path):
    specs = load_case("template", tmp_path)
    alpha = specs.get("publish-alpha")
    assert isinstance(alpha, model.Freestyle)
    assert alpha.shell == ("ca-publish packages/alpha --skip-existing  # in ${WORKSPACE}, literal {braces}",)
    assert alpha.git is not None and alpha.git.branch == "*/main" and alpha.git.clean == "before-checkout"
    beta = specs.get("publish-beta")
    assert isinstance(beta, model.Freestyle) and beta.git is not None and beta.git.branch == "*/develop"
    assert beta.bindings == alpha.bindings and beta.poll == "* * * * *"


def test_marker_hash_tracks_content(tmp_path):
    job = model.Freestyle(name="a", shell=("echo 1",))
    changed = model.Freestyle(name="a", shell=("echo 2",))
    assert configxml.marker_hash(configxml.described(job)) == configxml.content_hash(job)
    assert configxml.content_hash(job) != configxml.content_hash(changed)
    assert configxml.marker_hash("hand-written description") is None
    assert configxml.marker_hash(configxml.described(job) + "\nedited") is None


def test_canonical_ignores_what_jenkins_rewrites_but_not_values():
    ours = configxml.render(model.Freestyle(name="a", description="d", shell=("  echo 'x'  \n",)))
    theirs = ours.replace("<?xml version='1.0' encoding='UTF-8'?>", "<?xml version='1.1' encoding='UTF-8'?>")
    theirs = theirs.replace('class="hudson.scm.NullSCM"', 'class="hudson.scm.NullSCM" plugin="x@1.0"')
    theirs = theirs.replace("\n  <", "\n      <")
    assert configxml.canonical(theirs) == configxml.canonical(ours)
    assert configxml.canonical(ours.replace("echo 'x'  ", "echo 'x' ")) != configxml.canonical(ours)


# --------------------------------------------------------------------------- hostile values round-trip

# Any character XML 1.0 can carry (Jenkins stores nothing else), biased towards the dangerous ones.
xml_chars = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13)) + "\ufffe\uffff",
)
hostile = st.one_of(
    st.sampled_from(["<", "&", '"', "'", "]]>", "${X}", "{x}", "&amp;", "\r\n", "é", "日本", "😀", "<!--"]),
    st.text(xml_chars, max_size=12),
)
texts = st.lists(hostile, max_size=6).map("".join)
names = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    description=texts,
    url=texts,
    branch=texts,
    cred=texts,
    poll=texts,
    shell=st.lists(texts, max_size=3),
    name=names,
    script=texts,
    kind=st.booleans(),
)
def test_hostile_values_round_trip(description, url, branch, cred, poll, shell, name, script, kind):
    git = model.Git(url=url, branch=branch, credentials=cred or None, clean="before-checkout")
    job: model.Item
    if kind:
        job = model.Freestyle(
            name=name,
            description=description,
            git=git,
            poll=poll,
            shell=tuple(shell),
            bindings=(model.Binding(cred or "c", "U", "P"),),
        )
    else:
        job = model.Pipeline(name=name, description=description, git=git, poll=poll, script_path=script)
    root = configxml.parse(configxml.render(job))
    assert root.findtext("description") == configxml.described(job)
    assert configxml.marker_hash(root.findtext("description")) == configxml.content_hash(job)
    assert root.findtext(".//hudson.plugins.git.UserRemoteConfig/url") == url
    assert root.findtext(".//hudson.plugins.git.BranchSpec/name") == branch
    assert root.findtext(".//hudson.triggers.SCMTrigger/spec") == poll
    if cred:
        assert root.findtext(".//hudson.plugins.git.UserRemoteConfig/credentialsId") == cred
    if kind:
        assert [e.text or "" for e in root.iter("command")] == list(shell)
    else:
        assert root.findtext(".//scriptPath") == script
    # and what Jenkins would write back canonicalises to the same thing
    assert configxml.canonical(configxml.render(job)) == configxml.canonical(etree.tostring(root, encoding="unicode"))
