"""jobsync diff/apply/prune against the in-process fake Jenkins: few requests, server truth, safety."""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import textwrap
from pathlib import Path

import pytest
from tests.fakes.fake_jenkins import FakeJenkins

from jenkins_codeartifact import redact
from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.errors import OperationError
from jenkins_codeartifact.jobsync import configxml, jobspecs, xmlcompare
from jenkins_codeartifact.jobsync import sync as sync_
from jenkins_codeartifact.jobsync.configxml import FOLDER_CLASS

JOBS = """\
folders:
  - name: team
  - name: team/nightly
defaults:
  type: freestyle
  git: {url: "https://git.example.com/r.git", clean: before-checkout}
  poll: "* * * * *"
jobs:
  - name: producer
    shell: ca-publish package_src --skip-existing
  - name: team/build
    shell: make
  - name: team/nightly/test
    shell: make test
  - name: consumer
    type: pipeline
    script_path: application_src/Jenkinsfile
"""
UNMANAGED = "<?xml version='1.1' encoding='UTF-8'?><project><description>hand made</description></project>"
FLAGS = ("CA_PRUNE", "CA_VERIFY", "CA_ADOPT", "CA_REPLACE", "CA_JOBSYNC_OWNER", "CA_MAX_DELETE", "CA_PRUNE_ACTION")
OWNER = "git.example.com/team-a/jobs"
FREESTYLE, PIPELINE = "hudson.model.FreeStyleProject", "org.jenkinsci.plugins.workflow.job.WorkflowJob"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture
def specs(tmp_path):
    d = tmp_path / "jobs"
    d.mkdir()
    (d / "jobs.yml").write_text(JOBS, encoding="utf-8")
    return d


@pytest.fixture
def env(fake, monkeypatch):
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN", "CA_WORKERS", "CA_CONFIG", "CA_JOBS_DIR", *FLAGS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JENKINS_URL", fake.url)
    monkeypatch.setenv("JENKINS_USER", fake.user)
    monkeypatch.setenv("JENKINS_API_TOKEN", fake.token)
    monkeypatch.setenv("CA_JOBSYNC_OWNER", OWNER)
    monkeypatch.chdir(fake_cwd := Path(__file__).parent)
    yield fake_cwd
    redact.clear()


def sync(specs: Path, *args: str) -> int:
    return jobsync.main([args[0], "--jobs-dir", str(specs), *args[1:]])


def edit(specs: Path, old: str, new: str) -> None:
    path = specs / "jobs.yml"
    path.write_text(path.read_text().replace(old, new))


def test_apply_creates_folders_first_then_noop_is_one_request(fake, specs, env, capsys):
    assert sync(specs, "apply") == 0
    assert sorted(fake.items) == ["consumer", "producer", "team", "team/build", "team/nightly", "team/nightly/test"]
    posts = [path for method, path, _ in fake.log if method == "POST"]
    assert posts.index("/createItem?name=team") < posts.index("/job/team/createItem?name=nightly")
    assert posts.index("/job/team/createItem?name=nightly") < posts.index("/job/team/job/nightly/createItem?name=test")
    assert fake.requests == 1 + 1 + 6  # tree, crumb, one POST per item
    assert "6 created, 0 updated, 0 unchanged, 0 deleted, 0 failed" in capsys.readouterr().err

    fake.reset_counts()
    assert sync(specs, "apply") == 0
    assert fake.requests == 1
    assert "0 created, 0 updated, 6 unchanged" in capsys.readouterr().err


def test_diff_plans_without_writing_and_shows_xml_diff(fake, specs, env, capsys):
    assert sync(specs, "diff") == 0
    out = capsys.readouterr().out
    assert "+ create    folder team" in out and "+ create    job    team/nightly/test" in out
    assert fake.writes() == []
    assert sync(specs, "apply") == 0
    edit(specs, "shell: make test", "shell: make check")
    capsys.readouterr()
    fake.reset_counts()
    assert sync(specs, "diff") == 0
    out = capsys.readouterr().out
    assert "~ update    job    team/nightly/test (specs changed)" in out
    assert re.search(r"^-\s+<command>make test</command>$", out, re.M)
    assert re.search(r"^\+\s+<command>make check</command>$", out, re.M)
    assert "1 update, 5 unchanged" in out
    assert fake.requests == 2 and fake.writes() == []  # tree + the one config.xml shown in the diff


def test_edited_or_deleted_on_server_is_repaired(fake, specs, env, capsys):
    assert sync(specs, "apply") == 0
    wanted = fake.config("producer")
    # someone edits the description in the UI, someone deletes a job
    fake.put("producer", wanted.replace("<description>", "<description>temporary note "))
    del fake.items["team/build"]
    fake.reset_counts()
    assert sync(specs, "apply") == 0
    assert "1 created, 1 updated, 4 unchanged" in capsys.readouterr().err
    assert xmlcompare.canonical(fake.config("producer")) == xmlcompare.canonical(wanted)
    assert "team/build" in fake.items
    assert fake.requests == 1 + 1 + 2


def test_verify_catches_config_edits_that_kept_the_description(fake, specs, env, capsys):
    assert sync(specs, "apply") == 0
    wanted = fake.config("team/nightly/test")
    fake.put("team/nightly/test", wanted.replace("make test", "make test || true"))
    assert sync(specs, "apply") == 0  # the cheap plan trusts the marker
    assert "|| true" in fake.config("team/nightly/test")
    capsys.readouterr()
    assert sync(specs, "diff", "--verify") == 0
    out = capsys.readouterr().out
    assert "~ update    job    team/nightly/test (config.xml edited on the server)" in out
    assert re.search(r"^-\s+<command>make test \|\| true</command>$", out, re.M)
    fake.reset_counts()
    assert sync(specs, "apply", "--verify") == 0
    assert "|| true" not in fake.config("team/nightly/test")
    assert len(fake.writes()) == 1  # one POST for the repair, none for the 5 others
    # Jenkins's own rewrites (XML 1.1 prologue, plugin="..." attributes) are not differences
    assert "plugin=" in fake.config("producer") and "version='1.1'" in fake.config("producer")
    fake.reset_counts()
    assert sync(specs, "apply", "--verify") == 0
    assert fake.writes() == []


def test_unmanaged_job_is_never_touched(fake, specs, env, capsys):
    fake.put("manual", UNMANAGED)
    fake.put("producer", UNMANAGED)  # same name as a spec, but not ours
    assert sync(specs, "apply", "--prune") == 1
    err = capsys.readouterr().err
    assert "producer: exists on the server and is not managed by jobsync" in err
    assert "5 created, 0 updated, 0 unchanged, 0 deleted, 1 failed" in err
    assert fake.config("manual") == fake._item("-", UNMANAGED).xml
    assert fake.config("producer") == fake._item("-", UNMANAGED).xml
    assert sync(specs, "apply", "--prune", "--adopt") == 0
    assert configxml.marker_hash(fake.items["producer"].description) is not None
    assert fake.config("manual") == fake._item("-", UNMANAGED).xml


def test_prune_deletes_only_managed_jobs(fake, specs, env, capsys):
    assert sync(specs, "apply") == 0
    fake.put("team/nightly/hand-made", UNMANAGED)
    edit(specs, "  - name: team/build\n    shell: make\n", "")
    edit(specs, "  - name: team/nightly/test\n    shell: make test\n", "")
    edit(specs, "  - name: team/nightly\n", "")
    capsys.readouterr()
    assert sync(specs, "apply") == 0
    assert "3 not in the specs (kept; --prune deletes them)" in capsys.readouterr().err
    assert "team/build" in fake.items
    assert sync(specs, "diff") == 0
    assert "- delete    job    team/build (this owner's, no longer in the specs) (only with --prune)" in (
        capsys.readouterr().out
    )
    assert sync(specs, "apply", "--prune") == 1  # the folder still holds a job we do not manage
    err = capsys.readouterr().err
    assert "team/nightly: not deleted: it still holds items that are not this owner's (team/nightly/hand-made)" in err
    assert "team/build" not in fake.items and "team/nightly/test" not in fake.items
    assert "team/nightly/hand-made" in fake.items and "team" in fake.items
    # a managed parent of a folder that holds an unmanaged job is not deleted either (Jenkins would recurse)
    edit(specs, "  - name: team\n", "")
    assert sync(specs, "apply", "--prune") == 1
    assert "team: not deleted: it still holds items that are not this owner's" in capsys.readouterr().err
    assert "team/nightly/hand-made" in fake.items
    del fake.items["team/nightly/hand-made"]
    assert sync(specs, "apply", "--prune") == 0
    assert sorted(fake.items) == ["consumer", "producer"]


def test_one_failure_does_not_stop_the_others(fake, specs, env, capsys):
    fake.faults["producer"] = 500
    fake.faults["team/nightly"] = 500
    assert sync(specs, "apply", "--workers", "3") == 1
    err = capsys.readouterr().err
    assert "producer: create: " in err and "team/nightly: create" in err
    assert "team/nightly/test: skipped: folder team/nightly failed" in err
    assert "3 created, 0 updated, 0 unchanged, 0 deleted, 3 failed" in err
    assert sorted(fake.items) == ["consumer", "team", "team/build"]
    fake.faults.clear()
    assert sync(specs, "apply") == 0
    assert len(fake.items) == 6


def test_parallel_apply_is_bounded(specs, env, monkeypatch, tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    instances = "\n".join(f"      - {{n: '{i}'}}" for i in range(24))
    (many / "m.yml").write_text(
        f"templates:\n  - job: {{name: 'j{{n}}', type: freestyle}}\n    instances:\n{instances}\n"
    )
    with FakeJenkins(delay=0.02) as slow:
        monkeypatch.setenv("JENKINS_URL", slow.url)
        monkeypatch.setenv("JENKINS_API_TOKEN", slow.token)
        assert sync(many, "apply", "--workers", "6") == 0
        assert len(slow.items) == 24
        assert 2 <= slow.max_inflight <= 6
        assert slow.requests == 26


def to_pipeline(specs: Path) -> None:
    edit(specs, "  - name: producer\n", "  - name: producer\n    type: pipeline\n    script_path: Jenkinsfile\n")
    edit(specs, "    shell: ca-publish package_src --skip-existing\n", "")


def test_type_change_is_a_conflict_unless_replace(fake, specs, env, monkeypatch, capsys):
    assert sync(specs, "apply") == 0
    before = fake.config("producer")
    to_pipeline(specs)
    capsys.readouterr()
    fake.reset_counts()
    assert sync(specs, "apply") == 1
    err = capsys.readouterr().err
    line = (
        "ERROR: producer: is a freestyle job on the server but a pipeline in the specs: "
        "pass --replace to delete it (build history included) and create it anew"
    )
    assert line in err.splitlines()
    assert "0 created, 0 updated, 5 unchanged, 0 deleted, 1 failed" in err
    assert fake.writes() == [] and fake.config("producer") == before
    assert sync(specs, "diff") == 0
    assert "! conflict  job    producer (is a freestyle job on the server but a pipeline" in capsys.readouterr().out

    fake.reset_counts()
    assert sync(specs, "apply", "--replace") == 0
    assert fake.items["producer"].cls == PIPELINE
    assert [path for _, path, _ in fake.writes()] == ["/job/producer/doDelete", "/createItem?name=producer"]
    assert "1 updated" in capsys.readouterr().err
    # back to freestyle, with the environment variable instead of the flag
    edit(specs, "    type: pipeline\n    script_path: Jenkinsfile\n", "    shell: make\n")
    assert sync(specs, "apply") == 1
    monkeypatch.setenv("CA_REPLACE", "1")
    assert sync(specs, "apply") == 0
    assert fake.items["producer"].cls == FREESTYLE


def test_adopt_never_replaces_an_unmanaged_job_of_another_type_by_itself(fake, specs, env, capsys):
    fake.put("consumer", UNMANAGED)  # a freestyle job someone made; the specs want a pipeline
    assert sync(specs, "apply", "--adopt") == 1
    assert "consumer: is a freestyle job on the server but a pipeline in the specs" in capsys.readouterr().err
    assert fake.config("consumer") == fake._item("-", UNMANAGED).xml
    assert sync(specs, "apply", "--adopt", "--replace") == 0  # both asked for explicitly
    assert fake.items["consumer"].cls == PIPELINE


def test_a_folder_is_never_replaced(fake, specs, env, capsys):
    fake.put("producer", f"<{FOLDER_CLASS}><description>hand made</description></{FOLDER_CLASS}>")
    fake.put("producer/inside", UNMANAGED)
    assert sync(specs, "apply", "--adopt", "--replace") == 1
    assert "producer: is a folder on the server but a freestyle job in the specs: not replaced" in (
        capsys.readouterr().err
    )
    assert "producer/inside" in fake.items


def test_replace_says_so_when_the_create_after_the_delete_fails(fake, specs, env, monkeypatch, capsys):
    assert sync(specs, "apply") == 0
    to_pipeline(specs)

    def create(self: sync_.Client, name: str, xml: str) -> None:
        raise OperationError(f"{name}: create: Jenkins answered HTTP 500")

    real = sync_.Client.create
    monkeypatch.setattr(sync_.Client, "create", create)
    assert sync(specs, "apply", "--replace") == 1
    err = capsys.readouterr().err
    assert "producer: create: Jenkins answered HTTP 500 (the old job was deleted for --replace; run apply again" in err
    assert "producer" not in fake.items
    monkeypatch.setattr(sync_.Client, "create", real)
    assert sync(specs, "apply") == 0  # the next run creates it
    assert fake.items["producer"].cls == PIPELINE


@pytest.mark.parametrize("how", [("--workers", "0"), ("--workers", "-3"), ("CA_WORKERS", "0")])
def test_workers_below_one_is_one_usage_error_before_any_request(fake, specs, env, monkeypatch, capsys, how):
    if how[0] == "CA_WORKERS":
        monkeypatch.setenv(*how)
        assert sync(specs, "diff") == 2
        args: tuple[str, ...] = ()
    else:
        args = how
    assert sync(specs, "apply", *args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("ERROR: workers must be at least 1, got ") and err[1].startswith("TIP: pass --workers")
    assert len(err) == 2 * (2 if how[0] == "CA_WORKERS" else 1)
    assert fake.requests == 0


def test_flags_have_environment_variables(fake, specs, env, monkeypatch, capsys):
    fake.put("producer", UNMANAGED)
    monkeypatch.setenv("CA_ADOPT", "true")
    assert sync(specs, "apply") == 0
    assert configxml.marker_hash(fake.items["producer"].description) is not None
    fake.put("producer", fake.config("producer").replace("--skip-existing", "--dry-run"))
    monkeypatch.setenv("CA_VERIFY", "yes")
    assert sync(specs, "apply") == 0
    assert "--dry-run" not in fake.config("producer")
    edit(specs, "  - name: team/build\n    shell: make\n", "")
    assert sync(specs, "apply") == 0
    assert "team/build" in fake.items
    monkeypatch.setenv("CA_PRUNE", "1")
    assert sync(specs, "apply") == 0
    assert "team/build" not in fake.items
    monkeypatch.setenv("CA_PRUNE", "maybe")
    assert sync(specs, "apply") == 2
    assert "environment variable CA_PRUNE: expected true or false" in capsys.readouterr().err


def test_verify_does_not_take_a_jenkins_save_for_an_edit(fake, env, tmp_path, capsys):
    """Every item re-saved by Jenkins itself (tests/golden/saved): unchanged; a changed command: flagged."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for case in ("freestyle_full", "pipeline", "folders"):
        shutil.copy(GOLDEN / "jobs" / f"{case}.yml", jobs)
    assert sync(jobs, "apply") == 0
    for case in ("freestyle_full", "pipeline", "folders"):
        for part in (GOLDEN / "saved" / f"{case}.xml").read_text(encoding="utf-8").split("==> ")[1:]:
            name, _, xml = part.partition(" <==\n")
            # the saved files carry the ownerless marker of an offline render; apply wrote the owner in
            xml = re.sub(r"(sha256:[0-9a-f]{24})\]", rf"\1 owner={OWNER} name={name}]", xml)
            description = xmlcompare.parse(xml).findtext("description")
            assert configxml.same_description(description, fake.items[name].description), name
            fake.put(name, xml, verbatim=True)
    assert "plugin=" in fake.config("full") and "doGenerateSubmoduleConfigurations" in fake.config("full")
    capsys.readouterr()
    fake.reset_counts()
    assert sync(jobs, "diff", "--verify") == 0
    assert "0 create, 0 update, 6 unchanged, 0 delete" in capsys.readouterr().out
    assert sync(jobs, "apply", "--verify") == 0
    assert fake.writes() == []
    fake.put("full", fake.config("full").replace("--skip-existing", "--skip-existing --dry-run"), verbatim=True)
    assert sync(jobs, "diff", "--verify") == 0
    out = capsys.readouterr().out
    assert "~ update    job    full (config.xml edited on the server)" in out
    assert "1 update, 5 unchanged" in out
    assert re.search(r"^-ca-publish package_src --skip-existing --dry-run$", out, re.M)


def test_403_401_and_unreachable(fake, specs, env, monkeypatch, capsys):
    monkeypatch.delenv("JENKINS_API_TOKEN")
    assert sync(specs, "apply") == 1
    err = capsys.readouterr().err
    assert "ERROR: listing jobs: permission denied by Jenkins (HTTP 403: HTTP ERROR 403 Authentication required)" in err
    assert "TIP: check JENKINS_USER and JENKINS_API_TOKEN" in err
    monkeypatch.setenv("JENKINS_API_TOKEN", "not-the-token")
    assert sync(specs, "diff") == 1
    err = capsys.readouterr().err
    assert "listing jobs: Jenkins refused the credentials (HTTP 401: HTTP ERROR 401 Invalid password/token" in err
    assert fake.writes() == []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert sync(specs, "apply", "--url", f"http://127.0.0.1:{port}") == 1
    err = capsys.readouterr().err
    assert f"cannot reach Jenkins at http://127.0.0.1:{port}/" in err and "TIP: check --url/JENKINS_URL" in err


def test_missing_url_is_a_usage_error(specs, env, monkeypatch, capsys):
    monkeypatch.delenv("JENKINS_URL")
    assert sync(specs, "diff") == 2
    assert "ERROR: no Jenkins URL" in capsys.readouterr().err


def test_report(fake, specs, env, tmp_path):
    report = tmp_path / "r.json"
    fake.faults["consumer"] = 500
    assert sync(specs, "apply", "--report", str(report)) == 1
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_code"], data["command"]) == ("failed", 1, "apply")
    assert data["error"]["message"] == f"jobsync apply: {data['summary']}"
    assert data["summary"].endswith("1 failed")
    assert {c["name"] for c in data["changes"] if not c["ok"]} == {"consumer"}


def test_token_never_in_output_or_xml(fake, specs, env, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    fake.faults["producer"] = 500
    assert sync(specs, "apply", "-v") == 1
    assert sync(specs, "diff", "-v", "--verify") == 0
    fake.faults.clear()
    assert sync(specs, "apply", "-v", "--prune") == 0
    (specs / "jobs.yml").write_text(JOBS.replace("make test", fake.token))  # even if a spec carried it
    assert sync(specs, "diff", "-v") == 0
    out, err = capsys.readouterr()
    assert fake.token not in out + err + caplog.text
    assert "***" in out  # the diff shows the masked value
    assert all(fake.token not in item.xml for name, item in fake.items.items() if name != "team/nightly/test")


def test_render_matches_what_apply_sends(fake, specs, env, tmp_path):
    out = tmp_path / "out"
    assert sync(specs, "render", "-o", str(out)) == 0
    assert sync(specs, "apply") == 0
    for item in jobspecs.load(specs).items:
        sent = (out / f"{item.name}.xml").read_text()
        assert xmlcompare.canonical(sent) == xmlcompare.canonical(fake.config(item.name))


def test_consumer_and_producer_specs_apply(fake, env, capsys):
    jobs = Path(__file__).resolve().parents[2] / "jenkins" / "jobs"
    assert jobsync.main(["apply", "--jobs-dir", str(jobs)]) == 0
    assert sorted(fake.items) == ["consumer", "producer"]
    assert fake.items["consumer"].cls == "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    assert textwrap.dedent("<scriptPath>application_src/Jenkinsfile</scriptPath>") in fake.config("consumer")
