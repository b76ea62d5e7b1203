"""``jobsync import`` on the real-jobs corpus (tests/data/realjobs): lossless, then adopted by apply with
only the marker added, against the fake Jenkins with every plugin installed."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree
from tests.fakes.fake_jenkins import FakeJenkins

from jenkins_codeartifact import redact
from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.jobsync import configxml, importing, jobspecs, model, parts, xmlcompare

CORPUS = Path(__file__).resolve().parents[1] / "data" / "realjobs"
SOURCES = sorted(p for p in CORPUS.iterdir() if p.is_dir())
OWNER = "git.example.com/platform/jobs"
MARKER = re.compile(r"\n*\[managed by jobsync sha256:[0-9a-f]{24} owner=\S+ name=[^\]]+\]$")


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    sources, skipped = importing.from_files(SOURCES)
    assert not skipped
    return sources


@pytest.fixture
def estate(corpus, monkeypatch):
    """The corpus as a Jenkins holds it: every item put (parents first), saved the way XStream does."""
    with FakeJenkins(every_plugin=True) as fake:
        for name, xml in sorted(corpus, key=lambda s: s[0].count("/")):
            fake.put(name, xml)
        for var in ("CA_CONFIG", "CA_JOBS_DIR", "CA_ADOPT", "CA_VERIFY", "CA_PRUNE", "CA_WORKERS"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("JENKINS_URL", fake.url)
        monkeypatch.setenv("JENKINS_USER", fake.user)
        monkeypatch.setenv("JENKINS_API_TOKEN", fake.token)
        monkeypatch.setenv("CA_JOBSYNC_OWNER", OWNER)
        yield fake
    redact.clear()


def test_corpus_has_60_jobs_from_5_organisations(corpus):
    assert len(corpus) >= 60
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    orgs = set(re.findall(r"https://github\.com/([\w.-]+)/", readme))
    assert len(orgs) >= 5, orgs


def test_every_job_imports_losslessly_and_typed_share_is_printed(corpus, tmp_path, capsys):
    summary = importing.run(corpus, tmp_path / "jobs")
    assert len(summary.items) == len(corpus)
    specs = jobspecs.load(tmp_path / "jobs")
    by_name = dict(corpus)
    for item in specs.items:  # the proof again, from the files on disk
        ours = xmlcompare.canonical(configxml.render_plain(item))
        assert ours == xmlcompare.canonical(by_name[item.name]), item.name
    jobs = [i for i in summary.items if configxml.item_class(i.item) in (configxml.CLASSES[t] for t in (
        model.Freestyle, model.Pipeline))]  # fmt: skip
    typed = sum(1 for i in jobs if i.kind == "typed")
    partial = sum(1 for i in jobs if i.kind == "partial")
    total, raw = Counter[str](), Counter[str]()
    for imported in jobs:
        total.update(_tags(place_elements(etree.fromstring(by_name[imported.item.name].encode()))))
        raw.update(_tags(raw_place_elements(imported.item)))
    elements, kept_raw = sum(total.values()), sum(raw.values())
    with capsys.disabled():
        print(
            f"\nrealjobs: {len(summary.items)} items; freestyle and pipeline jobs: {len(jobs)}, typed fully "
            f"{typed} ({typed / len(jobs):.0%}), with raw parts {partial} ({partial / len(jobs):.0%}), "
            f"whole raw {len(jobs) - typed - partial}; all items whole raw: {summary.count('raw')}\n"
            f"elements in their places: {elements}, typed {elements - kept_raw} "
            f"({(elements - kept_raw) / elements:.0%}); most kept raw: "
            + ", ".join(f"{tag.rsplit('.', 1)[-1]} {n}" for tag, n in raw.most_common(12))
        )
    assert typed + partial >= 0.9 * len(jobs)  # freestyle and pipeline jobs keep a typed core
    assert not raw.keys() & TYPED_CLASSES, "typed features kept raw: " + ", ".join(sorted(raw.keys() & TYPED_CLASSES))


_PTJP = "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"
_PLACES = ("properties/*", "triggers/*", "builders/*", "publishers/*", "buildWrappers/*")
# The classes the typed model renders (a typed feature kept raw next to an unknown one would show here).
TYPED_CLASSES = frozenset(
    {
        "hudson.tasks.Shell",
        "hudson.tasks.ArtifactArchiver",
        "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper",
        "hudson.plugins.timestamper.TimestamperBuildWrapper",
        "hudson.plugins.git.extensions.impl.SubmoduleOption",
        "hudson.plugins.git.extensions.impl.CloneOption",
        "hudson.plugins.build__timeout.BuildTimeoutWrapper",
    }
)


def place_elements(root: etree._Element) -> list[etree._Element]:
    """The top-level elements of a config's places (properties, triggers, builders, publishers, build
    wrappers, git extensions); a pipeline's triggers property counts as the triggers in it."""
    out = [e for path in (*_PLACES, "scm/extensions/*", "definition/scm/extensions/*") for e in root.iterfind(path)]
    return [t for e in out for t in (e.iterfind("triggers/*") if e.tag == _PTJP else [e])]


def raw_place_elements(item: model.Item) -> list[etree._Element]:
    """The elements of ``item``'s places that its spec keeps as raw XML (all of them for a whole-raw item)."""
    if isinstance(item, model.RawItem):
        return place_elements(etree.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", item.xml).encode()))
    assert isinstance(item, model.Freestyle | model.Pipeline)
    raw = item.common.raw
    texts = [getattr(raw, p) for p in model.BETWEEN_PLACES] + [r.xml for r in raw.between]
    if item.git is not None:
        texts += [item.git.extensions_raw] + [r.xml for r in item.git.extensions_between]
    found = [e for text in texts for e in parts.raw_elements(text)]
    return [t for e in found for t in (e.iterfind("triggers/*") if e.tag == _PTJP else [e])]


def _tags(elements: list[etree._Element]) -> list[str]:
    return [str(e.tag) for e in elements]


def test_import_from_server_then_apply_adds_only_the_marker(estate, tmp_path, capsys):
    fake = estate
    before = {name: fake.config(name) for name in fake.items}
    jobs = tmp_path / "jobs"
    fake.reset_counts()
    assert jobsync.main(["import", "--jobs-dir", str(jobs)]) == 0
    out = capsys.readouterr()
    assert f"imported {len(before)} items" in out.out
    assert fake.counts["POST"] == 0  # import never changes the server
    assert fake.requests <= len(before) + 3  # one tree query, one config.xml per item (plus auth/crumb)
    assert "WARNING: 1 Jenkins-encrypted values" in out.err and "bootstrap" in out.err
    assert jobsync.main(["diff", "--jobs-dir", str(jobs)]) == 0
    plan = capsys.readouterr().out
    assert f"0 create, {len(before)} update" in plan
    lines = [line for line in plan.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    removed = [line[1:].removesuffix("</description>") for line in lines if line.startswith("-")]
    added = [line[1:] for line in lines if line.startswith("+") and line[1:] and "[managed by jobsync" not in line]
    assert removed and sorted(removed) == sorted(added)  # the description's last line gains the marker
    assert jobsync.main(["apply", "--jobs-dir", str(jobs)]) == 0
    for name, xml in before.items():
        root = configxml.xml_parse(fake.config(name))
        description = root.find("description")
        assert description is not None and MARKER.search(description.text or ""), name
        description.text = MARKER.sub("", description.text or "")  # the marker is all that changed
        assert xmlcompare.canonical(etree.tostring(root, encoding="unicode")) == xmlcompare.canonical(xml), name
    capsys.readouterr()
    assert jobsync.main(["diff", "--jobs-dir", str(jobs)]) == 0
    assert f"{len(before)} unchanged" in capsys.readouterr().out


def test_unmarked_item_that_differs_from_its_spec_stays_a_conflict(estate, tmp_path, capsys):
    fake = estate
    jobs = tmp_path / "jobs"
    assert jobsync.main(["import", "--match", "foedus-master-*", "--jobs-dir", str(jobs)]) == 0
    edited = fake.config("foedus-master-debug").replace("<numToKeep>50</numToKeep>", "<numToKeep>7</numToKeep>")
    assert edited != fake.config("foedus-master-debug")
    fake.put("foedus-master-debug", edited)
    capsys.readouterr()
    assert jobsync.main(["diff", "--jobs-dir", str(jobs)]) == 0
    plan = capsys.readouterr().out
    assert re.search(r"! conflict +job +foedus-master-debug .*pass --adopt", plan)
    assert "~ update    job    foedus-master-release " in plan


def test_import_never_overwrites_a_spec_file(estate, tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "imported.yml").write_text("jobs: []\n", encoding="utf-8")
    assert jobsync.main(["import", "--jobs-dir", str(jobs)]) == 3
    assert "imported.yml exists" in capsys.readouterr().err
    assert (jobs / "imported.yml").read_text(encoding="utf-8") == "jobs: []\n"
    assert not (jobs / "infrastructure-build.yml").exists()  # nothing half-done
    assert jobsync.main(["import", "--force", "--jobs-dir", str(jobs)]) == 0
    assert "foedus-master-debug" in (jobs / "imported.yml").read_text(encoding="utf-8")


def test_import_of_one_folder_keeps_its_tree_and_leaves_computed_children_out(estate, tmp_path, capsys):
    fake = estate
    fake.put("infrastructure-build/plugins/gradle-plugin/main", configxml.render_plain(model.Freestyle(name="x")))
    jobs = tmp_path / "jobs"
    fake.reset_counts()
    assert jobsync.main(["import", "--folder", "infrastructure-build", "--jobs-dir", str(jobs)]) == 0
    assert sorted(p.name for p in jobs.iterdir()) == ["infrastructure-build.yml"]
    names = [i.name for i in jobspecs.load(jobs).items]
    assert names == [
        "infrastructure-build",
        "infrastructure-build/plugins",
        "infrastructure-build/test",
        "infrastructure-build/plugins/gradle-plugin",
        "infrastructure-build/test/jenkins-dummy",
    ]  # the branch job Jenkins made under the multibranch project is not imported
    assert fake.requests <= len(names) + 3
    assert "imported 5 items into 1 spec files" in capsys.readouterr().out


def test_a_multibranch_spec_applies_then_is_unchanged_and_its_branches_stay_jenkins(estate, tmp_path, capsys):
    fake = estate
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "mb.yml").write_text(
        "jobs:\n  - {name: app, type: multibranch, git: {url: 'https://git.example.com/app.git'}, scan: H H/4 * * *}\n",
        encoding="utf-8",
    )
    assert jobsync.main(["apply", "--jobs-dir", str(jobs)]) == 0
    fake.put("app/main", configxml.render_plain(model.Freestyle(name="x")))  # a branch job Jenkins made
    capsys.readouterr()
    assert jobsync.main(["diff", "--jobs-dir", str(jobs), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "= unchanged job    app (current)" in out
    assert "? unmanaged job    app/main" in out  # Jenkins' own: listed, never pruned
