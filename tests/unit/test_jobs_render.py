"""Golden tests: YAML in (tests/golden/jobs/CASE.yml), config.xml out (CASE.xml), for every option.

Regenerate after an intended change with ``JOBSYNC_REGEN_GOLDEN=1 python -m pytest tests/unit/test_jobs_render.py``
and review the diff: the goldens are the contract with Jenkins.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from jenkins_codeartifact.jobsync import configxml, jobspecs, model, xmlcompare

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "jobs"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yml"))


def render_all(specs: model.Specs) -> str:
    return "".join(f"==> {item.name} <==\n{configxml.render(item)}\n" for item in specs.items)


def load_case(case: str, tmp_path: Path) -> model.Specs:
    shutil.copy(GOLDEN / f"{case}.yml", tmp_path / f"{case}.yml")
    return jobspecs.load(tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_golden(case, tmp_path):
    text = render_all(load_case(case, tmp_path))
    expected = GOLDEN / f"{case}.xml"
    if os.environ.get("JOBSYNC_REGEN_GOLDEN"):
        expected.write_text(text, encoding="utf-8")
        pytest.skip(f"regenerated {expected.name}: review the diff; this run checked nothing")
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
        "jenkins.model.BuildDiscarderProperty",
        "hudson.model.ParametersDefinitionProperty",
        "hudson.model.StringParameterDefinition",
        "hudson.model.BooleanParameterDefinition",
        "hudson.model.ChoiceParameterDefinition",
        "hudson.model.TextParameterDefinition",
        "hudson.model.PasswordParameterDefinition",
        "com.cloudbees.plugins.credentials.CredentialsParameterDefinition",
        "com.coravy.hudson.plugins.github.GithubProjectProperty",
        "hudson.triggers.TimerTrigger",
        "jenkins.triggers.ReverseBuildTrigger",
        "com.cloudbees.jenkins.GitHubPushTrigger",
        "hudson.plugins.git.extensions.impl.CloneOption",
        "hudson.plugins.git.extensions.impl.CheckoutOption",
        "hudson.plugins.git.extensions.impl.RelativeTargetDirectory",
        "hudson.plugins.git.extensions.impl.SubmoduleOption",
        "hudson.plugins.git.extensions.impl.LocalBranch",
        "hudson.plugins.git.extensions.impl.CleanCheckout",
        "org.jenkinsci.plugins.credentialsbinding.impl.StringBinding",
        "org.jenkinsci.plugins.credentialsbinding.impl.FileBinding",
        "org.jenkinsci.plugins.credentialsbinding.impl.SSHUserPrivateKeyBinding",
        "com.cloudbees.jenkins.plugins.awscredentials.AmazonWebServicesCredentialsBinding",
        "hudson.plugins.build__timeout.BuildTimeoutWrapper",
        "hudson.plugins.build_timeout.impl.AbsoluteTimeOutStrategy",
        "hudson.plugins.build_timeout.impl.NoActivityTimeOutStrategy",
        "hudson.tasks.ArtifactArchiver",
        "hudson.tasks.junit.JUnitResultArchiver",
        "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition",
        "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty",
        '<logRotator class="hudson.tasks.LogRotator">',
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


def test_jobs_of_one_shape_each_render_their_own_texts():
    """Template instances share a shape (same git, bindings, poll): each still gets its own description
    and commands, in order, and rendering one does not leak into another rendered later or earlier."""
    git = model.Git("https://git.example.com/r.git", clean="before-checkout")
    binding = (model.Binding("aws", "U", "P"),)
    jobs = [
        model.Freestyle(
            name=f"f/j{i}",
            description=f"job {i} <&>",
            git=git,
            bindings=binding,
            poll="H * * * *",
            shell=(f"echo {i} & ${{X}}", f"make {i}"),
        )
        for i in range(3)
    ] + [model.Freestyle(name="f/other", description="", git=git, bindings=binding, poll="H * * * *", shell=("x",))]
    first = [configxml.render(j) for j in jobs]
    for job, xml in zip(reversed(jobs), reversed(first), strict=True):
        root = xmlcompare.parse(configxml.render(job, "team/a"))
        assert root.findtext("description") == configxml.described(job, "team/a")
        assert [c.text for c in root.iter("command")] == list(job.shell)
        assert root.findtext("scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url") == git.url
        assert xml.count("<hudson.tasks.Shell>") == len(job.shell)
        assert [j.name for j in jobs if f"<command>make {j.name[-1]}</command>" in xml] == (
            [job.name] if job.name != "f/other" else []
        )


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
    assert xmlcompare.canonical(theirs) == xmlcompare.canonical(ours)
    assert xmlcompare.canonical(ours.replace("echo 'x'  ", "echo 'x' ")) != xmlcompare.canonical(ours)


# ------------------------------------------------------------- what a real Jenkins save does to our XML

SAVED = GOLDEN.parent / "saved"
SAVED_CASES = sorted(p.stem for p in SAVED.glob("*.xml"))


def saved_configs(case: str, specs: model.Specs) -> dict[str, str]:
    """tests/golden/saved/CASE.xml: each item's config.xml as Jenkins writes it back on a save.

    Written by hand after what a Jenkins LTS with the plugins of jenkins/plugins.txt writes when it
    saves an item itself (XStream): XML 1.1 prologue, ``plugin="name@version"`` attributes, 2-space
    indentation, XStream's escapes (``&quot;``, ``&apos;``), every field at its default, the git
    plugin's deprecated submodule fields, the declarative pipeline's job actions after a first build
    (``heavy``), and what a folder's page saved in the UI adds (``team``): docker-workflow's
    ``FolderConfig`` under its current class name and the description's CRLF line ends (``&#xd;``).
    The marker hash is replaced by the current one: a change of rendering fails here only if it
    changes what Jenkins would see.
    """
    text = (SAVED / f"{case}.xml").read_text(encoding="utf-8")
    configs = {}
    for part in text.split("==> ")[1:]:
        name, _, xml = part.partition(" <==\n")
        configs[name] = xml
    hashes = {i.name: configxml.content_hash(i) for i in specs.items}
    assert set(configs) == set(hashes), case
    return {n: re.sub(r"sha256:[0-9a-f]{24}", f"sha256:{hashes[n]}", xml) for n, xml in configs.items()}


@pytest.mark.parametrize("case", SAVED_CASES)
def test_a_jenkins_save_is_not_an_edit(case, tmp_path):
    specs = load_case(case, tmp_path)
    configs = saved_configs(case, specs)
    for item in specs.items:
        saved = configs[item.name]
        assert saved.startswith("<?xml version='1.1' encoding='UTF-8'?>\n"), item.name
        assert xmlcompare.canonical(saved) == xmlcompare.canonical(configxml.render(item)), item.name


def test_saved_goldens_cover_every_item_type():
    assert SAVED_CASES == ["folders", "freestyle_full", "pipeline"]


@pytest.mark.parametrize(
    ("case", "name", "old", "new"),
    [
        ("freestyle_full", "full", "ca-publish package_src --skip-existing", "ca-publish package_src"),
        ("freestyle_full", "full", "<disabled>true</disabled>", "<disabled>false</disabled>"),
        ("freestyle_full", "full", "<concurrentBuild>false<", "<concurrentBuild>true<"),
        ("freestyle_full", "full", "<canRoam>true</canRoam>", "<canRoam>false</canRoam>"),
        ("freestyle_full", "full", '<submoduleCfg class="empty-list"/>', "<submoduleCfg><x>y</x></submoduleCfg>"),
        ("freestyle_full", "full", "<publishers/>", "<publishers><hudson.tasks.Mailer/></publishers>"),
        (
            "freestyle_full",
            "full",
            '<hudson.plugins.timestamper.TimestamperBuildWrapper plugin="timestamper@1.29"/>',
            "",
        ),
        ("pipeline", "heavy", "<lightweight>false<", "<lightweight>true<"),
        ("pipeline", "polled", "<spec>* * * * *</spec>", "<spec>H * * * *</spec>"),
        ("folders", "team", "<dockerLabel></dockerLabel>", "<dockerLabel>linux</dockerLabel>"),
        ("folders", "team", "The team&apos;s jobs&#xd;", "The team&apos;s tasks&#xd;"),
        ("folders", "team", "jobs&#xd;\n&#xd;\n", "jobs&#xd;\n"),
        ("folders", "team/nightly/build", '<scm class="hudson.scm.NullSCM"/>', '<scm class="hudson.scm.CVSSCM"/>'),
    ],
)
def test_a_real_edit_in_a_jenkins_save_still_shows(case, name, old, new, tmp_path):
    specs = load_case(case, tmp_path)
    item = next(i for i in specs.items if i.name == name)
    saved = saved_configs(case, specs)[name]
    assert old in saved
    assert xmlcompare.canonical(saved.replace(old, new)) != xmlcompare.canonical(configxml.render(item))


@pytest.mark.parametrize(
    "cls",
    [
        "org.jenkinsci.plugins.docker.workflow.declarative.FolderConfig",  # what docker-workflow writes
        "org.jenkinsci.plugins.pipeline.modeldefinition.config.FolderConfig",  # its read alias
    ],
)
def test_an_empty_folder_config_under_either_name_is_not_an_edit(cls, tmp_path):
    specs = load_case("folders", tmp_path)
    item = next(i for i in specs.items if i.name == "team")
    saved = saved_configs("folders", specs)["team"]
    saved = saved.replace("org.jenkinsci.plugins.docker.workflow.declarative.FolderConfig", cls)
    assert xmlcompare.canonical(saved) == xmlcompare.canonical(configxml.render(item))


def test_a_folder_view_has_the_property_list_class_jenkins_knows():
    text = configxml.render(model.Folder(name="f"))
    assert '<properties class="hudson.model.View$PropertyList"/>' in text  # View.PropertyList, View.java
    assert "PropertyImpList" not in text


def test_crlf_counts_as_lf_in_descriptions_only():
    job = model.Freestyle(name="a", description="one\ntwo", shell=("make",))
    ours = configxml.render(job)
    crlf = ours.replace("one\ntwo", "one&#13;\ntwo").replace("\n\n[managed", "&#13;\n&#13;\n[managed")
    assert "&#13;" in crlf and xmlcompare.canonical(crlf) == xmlcompare.canonical(ours)
    assert configxml.same_description("one\r\ntwo\r\n\r\n[m]", "one\ntwo\n\n[m]")
    assert not configxml.same_description("one\r\ntwo", "one two")
    command = ours.replace("<command>make</command>", "<command>make&#13;\n</command>")
    assert xmlcompare.canonical(command) != xmlcompare.canonical(ours)  # Jenkins normalises commands itself


def test_dropped_names_the_plugin_only_when_that_is_the_whole_difference(tmp_path):
    specs = load_case("freestyle_full", tmp_path)
    item = next(i for i in specs.items if i.name == "full")
    sent = configxml.render(item)
    wrapper = "<hudson.plugins.timestamper.TimestamperBuildWrapper/>"
    assert wrapper in sent
    kept = saved_configs("freestyle_full", specs)["full"]
    assert xmlcompare.dropped(kept, sent) == []
    lost = re.sub(r"<hudson.plugins.timestamper.TimestamperBuildWrapper[^>]*/>", "", kept)
    assert xmlcompare.dropped(lost, sent) == [("hudson.plugins.timestamper.TimestamperBuildWrapper", "timestamper")]
    edited = lost.replace("--skip-existing", "")
    assert xmlcompare.dropped(edited, sent) == []  # something else changed too: an edit, shown as such
    no_git = re.sub(r'<scm class="hudson.plugins.git.GitSCM".*?</scm>', "", lost, flags=re.S)
    assert xmlcompare.dropped(no_git, sent) == [
        ("hudson.plugins.git.GitSCM", "git"),
        ("hudson.plugins.timestamper.TimestamperBuildWrapper", "timestamper"),
    ]


def test_canonical_drops_only_defaults_that_mean_the_same_as_absent():
    shell = "<hudson.tasks.Shell><command>make</command></hudson.tasks.Shell>"
    bare = f"<project><description>d</description><builders>{shell}</builders></project>"  # as one might POST it
    full = configxml.render(model.Freestyle(name="a", shell=("make",)))
    full = re.sub(r"<description>[^<]*</description>", "<description>d</description>", full)
    full = full.replace("<canRoam>true</canRoam>", "")  # absent means false to Jenkins: not a default we drop
    assert xmlcompare.canonical(full) == xmlcompare.canonical(bare)
    for kept in (
        "<canRoam>true</canRoam>",
        "<disabled>true</disabled>",
        "<triggers><x/></triggers>",
        "<scm class='x'/>",
    ):
        assert xmlcompare.canonical(bare.replace("</project>", kept + "</project>")) != xmlcompare.canonical(bare), kept


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
    root = xmlcompare.parse(configxml.render(job))
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
    assert xmlcompare.canonical(configxml.render(job)) == xmlcompare.canonical(etree.tostring(root, encoding="unicode"))


def test_goldens_and_the_fake_follow_the_pinned_jenkins_and_plugins():
    """jenkins/Dockerfile pins an LTS; docs/jobsync.md, the saved goldens and the fake name the same versions."""
    from tests.fakes import fake_jenkins

    root = GOLDEN.parents[2]
    image = re.search(
        r"^FROM jenkins/jenkins:(\d+\.\d+\.\d+)-lts-jdk\d+$", (root / "jenkins" / "Dockerfile").read_text(), re.M
    )
    assert image, "jenkins/Dockerfile must pin a Jenkins LTS version, not a moving tag"
    version = image.group(1)
    readme = " ".join((root / "docs" / "jobsync.md").read_text(encoding="utf-8").split())
    assert f"Jenkins {version} LTS" in readme and version == fake_jenkins.VERSION
    lines = (root / "jenkins" / "plugins.txt").read_text().splitlines()
    pins = dict(line.split(":") for line in lines if line.strip() and not line.startswith("#"))
    assert len(pins) >= 7
    saved = "".join(p.read_text(encoding="utf-8") for p in SAVED.glob("*.xml"))
    written = dict(re.findall(r'plugin="([\w-]+)@([^"]+)"', saved))
    written.update(v.split("@") for v in fake_jenkins.PLUGINS.values())
    for name, pinned in pins.items():
        assert f"{name} {pinned}" in readme, name
        assert written.get(name, pinned) == pinned, name
    for name, seen in written.items():
        assert f"{name} {seen}" in readme, name
