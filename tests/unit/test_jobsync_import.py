"""``jobsync import`` offline: every golden renders and reads back to the same model; file naming rules;
encrypted values; the fallbacks to raw places and whole raw."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jenkins_codeartifact.errors import ConfigError
from jenkins_codeartifact.jobsync import configxml, importing, importxml, jobspecs, model, parts, specwrite

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "jobs"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yml"))


def golden_items(case: str, tmp_path: Path) -> list[model.Item]:
    shutil.copy(GOLDEN / f"{case}.yml", tmp_path / f"{case}.yml")
    return list(jobspecs.load(tmp_path).items)


@pytest.mark.parametrize("case", CASES)
def test_every_golden_reads_back_to_its_model(case, tmp_path):
    for item in golden_items(case, tmp_path):
        imported = importxml.read(item.name, configxml.render_plain(item))
        if isinstance(item, model.Pipeline) and item.jenkinsfile is not None:
            item = model.Pipeline(**{**item.__dict__, "jenkinsfile": None})  # a render setting, not in config.xml
        if isinstance(item, model.RawItem) or item.name in ("raw-parts", "raw-between-typed"):
            assert importxml.prove(imported.item, configxml.render_plain(item)), item.name
            continue
        assert imported.item == item, item.name
        assert imported.kind == "typed", item.name


@pytest.mark.parametrize("case", CASES)
def test_written_specs_read_back(case, tmp_path):
    items = golden_items(case, tmp_path)
    text = specwrite.dump(items)
    loaded = jobspecs.load_text(text, "imported.yml")
    for ours, back in zip(sorted(items, key=lambda i: i.name), sorted(loaded, key=lambda i: i.name), strict=True):
        if isinstance(ours, model.Pipeline) and ours.jenkinsfile is not None:
            continue  # jenkinsfile settings render a Jenkinsfile, not config.xml: import has none to write
        assert configxml.render_plain(back) == configxml.render_plain(ours), ours.name


JJB = """<?xml version="1.0" encoding="utf-8"?>
<project>
  <actions/>
  <description>&lt;!-- Managed by Jenkins Job Builder --&gt;</description>
  <keepDependencies>false</keepDependencies>
  <blockBuildWhenDownstreamBuilding>false</blockBuildWhenDownstreamBuilding>
  <concurrentBuild>true</concurrentBuild>
  <assignedNode>small</assignedNode>
  <canRoam>false</canRoam>
  <properties>
    <jenkins.model.BuildDiscarderProperty>
      <strategy class="hudson.tasks.LogRotator">
        <daysToKeep>15</daysToKeep><numToKeep>-1</numToKeep>
        <artifactDaysToKeep>-1</artifactDaysToKeep><artifactNumToKeep>-1</artifactNumToKeep>
      </strategy>
    </jenkins.model.BuildDiscarderProperty>
  </properties>
  <scm class="hudson.plugins.git.GitSCM">
    <configVersion>2</configVersion>
    <userRemoteConfigs><hudson.plugins.git.UserRemoteConfig>
      <name>origin</name><url>https://github.com/ceph/ceph.git</url>
    </hudson.plugins.git.UserRemoteConfig></userRemoteConfigs>
    <branches><hudson.plugins.git.BranchSpec><name>${sha1}</name></hudson.plugins.git.BranchSpec></branches>
    <disableSubmodules>false</disableSubmodules>
    <remotePoll>false</remotePoll>
    <gitTool>Default</gitTool>
    <submoduleCfg class="list"/>
    <reference/>
    <extensions>
      <hudson.plugins.git.extensions.impl.CloneOption><shallow>false</shallow><depth>1</depth><timeout>20</timeout>
      </hudson.plugins.git.extensions.impl.CloneOption>
      <hudson.plugins.git.extensions.impl.WipeWorkspace/>
    </extensions>
  </scm>
  <triggers class="vector"/>
  <builders>
    <hudson.tasks.Shell><command>make check</command></hudson.tasks.Shell>
  </builders>
  <publishers/>
  <buildWrappers/>
</project>
"""


def test_jjb_output_imports_typed_whatever_its_element_order():
    imported = importxml.read("ceph-pr", JJB)
    assert imported.kind == "typed"
    job = imported.item
    assert isinstance(job, model.Freestyle) and job.git is not None
    assert (job.concurrent, job.common.label, job.common.discard) == (True, "small", model.Discard(days=15))
    assert (job.git.name, job.git.branch, job.git.depth, job.git.clone_timeout, job.git.clean) == (
        "origin",
        "${sha1}",
        1,
        20,
        "wipe",
    )
    assert job.shell == ("make check",)


def test_unknown_elements_stay_raw_in_their_place():
    xml = JJB.replace(
        "<publishers/>",
        "<publishers><hudson.tasks.Mailer><recipients>a@b</recipients></hudson.tasks.Mailer></publishers>",
    )
    imported = importxml.read("j", xml)
    assert imported.kind == "partial"
    assert "<recipients>a@b</recipients>" in imported.item.common.raw.publishers
    assert importxml.prove(imported.item, xml)


def test_what_does_not_round_trip_is_whole_raw_and_named():
    xml = JJB.replace("<keepDependencies>false", "<keepDependencies>true")
    imported = importxml.read("j", xml)
    assert imported.kind == "raw" and "round-trip" in imported.note
    assert importxml.prove(imported.item, xml)
    bare = importxml.read("j", "<project/>")  # no <canRoam>: tied to the controller, not our default
    assert bare.kind == "raw"
    matrix = importxml.read("m", "<matrix-project><description>x</description></matrix-project>")
    assert matrix.kind == "raw" and "<matrix-project>" in matrix.note


def test_encrypted_values_are_kept_and_counted():
    secret = "{AQAAABAAAAAQAd3fF9/E4tGkRS4hOaxG7O0LY7YXf/Ika+Yl5lVWvKQ=}"
    xml = JJB.replace(
        "</properties>",
        "<hudson.model.ParametersDefinitionProperty><parameterDefinitions><hudson.model.PasswordParameterDefinition>"
        f"<name>P</name><description/><defaultValue>{secret}</defaultValue></hudson.model.PasswordParameterDefinition>"
        "</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties>",
    )
    imported = importxml.read("j", xml)
    assert imported.encrypted == 1 and imported.kind == "typed"
    assert imported.item.common.parameters[0].default == secret


def test_file_naming_rules(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.xml").write_text("<project/>")
    (tmp_path / "flat" / "release-1.33").write_text(JJB)  # `jenkins-jobs test -o` output: no extension
    (tmp_path / "flat" / "README.md").write_text("# not a job\n")
    (tmp_path / "flat" / "all.xml").write_text("<hudson.model.ListView><name>all</name></hudson.model.ListView>")
    home = tmp_path / "home" / "jobs"
    (home / "team" / "jobs" / "build" / "builds" / "1").mkdir(parents=True)
    (home / "team" / "config.xml").write_text("<com.cloudbees.hudson.plugins.folder.Folder/>")
    (home / "team" / "jobs" / "build" / "config.xml").write_text("<project/>")
    (home / "team" / "jobs" / "build" / "builds" / "1" / "build.xml").write_text("<build/>")
    (tmp_path / "single").mkdir()
    (tmp_path / "single" / "config.xml").write_text("<project/>")
    sources, skipped = importing.from_files([tmp_path / "flat", tmp_path / "home", tmp_path / "single" / "config.xml"])
    assert sorted(name for name, _ in sources) == ["a", "release-1.33", "single", "team", "team/build"]
    assert len(skipped) == 1 and "all.xml: a view" in skipped[0]


def test_missing_parent_folder_is_declared(tmp_path):
    summary = importing.run([("team/build", "<project/>")], tmp_path / "jobs")
    specs = jobspecs.load(tmp_path / "jobs")
    assert [i.name for i in specs.items] == ["team", "team/build"]
    assert [f.name for f in summary.files] == ["team.yml"]


def test_import_writes_one_file_per_top_level_folder(tmp_path):
    job = configxml.render_plain(model.Freestyle(name="a"))
    folder = configxml.render_plain(model.Folder(name="f"))
    sources = [("a", job), ("f", folder), ("f/b", job)]
    summary = importing.run(sources, tmp_path / "jobs")
    assert sorted(f.name for f in summary.files) == ["f.yml", "imported.yml"]
    assert summary.lines()[0] == "imported 3 items into 2 spec files: 3 typed fully, 0 with raw parts, 0 whole raw"
    with pytest.raises(ConfigError, match="two sources"):
        importing.run([("a", "<project/>"), ("A", "<project/>")], tmp_path / "other")


def test_import_report_names_each_item_its_kind_and_the_encrypted_values(tmp_path, capsys):
    import json

    from jenkins_codeartifact.cli import jobsync

    xml = tmp_path / "xml"
    xml.mkdir()
    (xml / "plain.xml").write_text(configxml.render_plain(model.Freestyle(name="x", shell=("make",))))
    secret = "{AQAAABAAAAAQAd3fF9/E4tGkRS4hOaxG7O0LY7YXf/Ika+Yl5lVWvKQ=}"
    (xml / "matrix.xml").write_text(f"<matrix-project><description>{secret}</description></matrix-project>")
    report = tmp_path / "report.json"
    argv = ["import", "--jobs-dir", str(tmp_path / "jobs"), "--from-xml", str(xml), "--report", str(report)]
    assert jobsync.main(argv) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "imported 2 items into 1 spec files: 1 typed fully, 0 with raw parts, 1 whole raw"
    assert "WARNING: 1 Jenkins-encrypted values" in err and "matrix" in err
    data = json.loads(report.read_text())
    assert (data["typed"], data["partial"], data["raw"]) == (1, 0, 1)
    assert data["items"] == {"matrix": "raw", "plain": "typed"} and data["encrypted"] == {"matrix": 1}
    assert secret in (tmp_path / "jobs" / "imported.yml").read_text()  # kept as it is, not our secret to drop


def test_raw_between_typed_steps_reads_back_where_it_stands(tmp_path):
    """One unknown step between two shell steps leaves both typed; the unknown wrapper before the
    bindings leaves them typed too (the first pass kept the whole place raw)."""
    item = next(i for i in golden_items("long_tail", tmp_path) if i.name == "raw-between-typed")
    assert isinstance(item, model.Freestyle)
    imported = importxml.read(item.name, configxml.render_plain(item))
    job = imported.item
    assert isinstance(job, model.Freestyle) and job.git is not None
    assert (job.shell, job.bindings, job.timestamps) == (item.shell, item.bindings, True)
    placed = [(r.place, r.after, [e.tag for e in parts.raw_elements(r.xml)]) for r in job.common.raw.between]
    assert placed == [("builders", 1, ["hudson.plugins.cmake.CmakeBuilder"]),
                      ("buildWrappers", 0, ["hudson.plugins.build__name__setter.BuildNameSetter"])]  # fmt: skip
    assert "BatchFile" in job.common.raw.builders and "CmakeBuilder" not in job.common.raw.builders
    assert (job.git.clean, job.git.submodules) == ("before-checkout", True)
    assert "PruneStaleBranch" in job.git.extensions_raw  # a set: a raw extension needs no position


def test_typed_elements_in_another_order_keep_it(tmp_path):
    item = next(i for i in golden_items("long_tail", tmp_path) if i.name == "run-order")
    imported = importxml.read(item.name, configxml.render_plain(item))
    assert imported.kind == "typed"
    assert imported.item.common.order == (
        ("publishers", ("mail", "archive")),
        ("buildWrappers", ("timestamps", "bindings", "timeout")),
    )
