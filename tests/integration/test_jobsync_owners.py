"""jobsync on a Jenkins shared by several sources: owners, safe prune, renames that keep history (issue 8)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from tests.fakes.fake_jenkins import MULTIBRANCH

from jenkins_codeartifact import redact
from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.jobsync import configxml, jobspecs, model, owner

JOBS = """\
folders:
  - name: team
  - name: team/nightly
defaults:
  type: freestyle
  git: {url: "https://git.example.com/r.git"}
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
OTHER = """\
jobs:
  - name: other
    type: freestyle
    shell: make other
"""
A, B = "git.example.com/team-a/jobs", "git.example.com/team-b/jobs:ci"
ALL = ["consumer", "producer", "team", "team/build", "team/nightly", "team/nightly/test"]


@pytest.fixture
def env(fake, monkeypatch, tmp_path):
    for var in list(__import__("os").environ):
        if var.startswith(("CA_", "JENKINS_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("JENKINS_URL", fake.url)
    monkeypatch.setenv("JENKINS_USER", fake.user)
    monkeypatch.setenv("JENKINS_API_TOKEN", fake.token)
    monkeypatch.chdir(tmp_path)
    yield
    redact.clear()


def jobs_dir(tmp_path: Path, name: str, text: str) -> Path:
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "jobs.yml").write_text(text, encoding="utf-8")
    return d


def sync(specs: Path, who: str, *args: str) -> int:
    return jobsync.main([args[0], "--jobs-dir", str(specs), "--owner", who, *args[1:]])


def post(fake, path: str) -> requests.Response:
    headers: dict[str, str] = {}  # an API token needs no crumb (ApiCrumbExclusion)
    return requests.post(
        fake.url + path, headers=headers, auth=(fake.user, fake.token), timeout=5, allow_redirects=False
    )


def test_two_owners_with_prune_never_touch_each_other(fake, env, tmp_path, capsys):
    a, b = jobs_dir(tmp_path, "a", JOBS), jobs_dir(tmp_path, "b", OTHER)
    assert sync(a, A, "apply", "--prune") == 0
    assert sync(b, B, "apply", "--prune") == 0
    assert sorted(fake.items) == sorted([*ALL, "other"])
    err = capsys.readouterr().err
    assert "deleted" not in err.replace("0 deleted", "")
    assert sync(a, A, "apply", "--prune") == 0
    assert "other" in fake.items
    assert sync(b, B, "diff", "--prune") == 0
    out = capsys.readouterr().out
    assert f"o foreign   job    producer (owned by {A})" in out
    assert "= unchanged job    other (current)" in out
    assert "0 create, 0 update, 1 unchanged, 0 delete, 6 foreign" in out
    # a spec naming another owner's job is a conflict, unless --adopt
    (b / "jobs.yml").write_text(OTHER + "  - name: producer\n    type: freestyle\n", encoding="utf-8")
    before = fake.config("producer")
    assert sync(b, B, "apply", "--prune") == 1
    assert f"producer: owned by {A} (another jobs directory); pass --adopt to take it over" in capsys.readouterr().err
    assert fake.config("producer") == before


def test_a_copy_made_in_the_ui_is_not_managed_and_survives_prune(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    assert sync(a, A, "apply") == 0
    r = post(fake, "job/team/createItem?name=build-copy&mode=copy&from=build")
    assert r.status_code == 302
    assert fake.items["team/build-copy"].description == fake.items["team/build"].description  # marker copied too
    capsys.readouterr()
    assert sync(a, A, "diff", "--prune") == 0
    out = capsys.readouterr().out
    assert "? unmanaged job    team/build-copy (a copy of team/build made on the server" in out
    assert sync(a, A, "apply", "--prune") == 0
    assert "team/build-copy" in fake.items


def test_empty_jobs_dir_with_prune_deletes_nothing_and_exits_3(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    assert sync(a, A, "apply") == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    fake.reset_counts()
    capsys.readouterr()
    assert sync(empty, A, "apply", "--prune") == 3
    err = capsys.readouterr().err
    assert f"ERROR: --prune would delete every item of owner {A} (6) and keep none: nothing done" in err
    assert "TIP: an empty or mistyped jobs directory" in err
    assert fake.writes() == [] and sorted(fake.items) == ALL
    # the same refusal as a warning in the plan, which still lists what would go
    assert sync(empty, A, "diff", "--prune") == 0
    out, err = capsys.readouterr()
    assert "- delete    job    producer (this owner's, no longer in the specs)" in out
    assert "WARNING: apply --prune would refuse" in err
    # more than --max-delete is refused too; raising it for the run allows it
    for name in ("team/build", "team/nightly/test", "consumer"):
        text = (a / "jobs.yml").read_text()
        (a / "jobs.yml").write_text(text.replace(f"  - name: {name}\n", f"  - name: {name}-new\n"))
    assert sync(a, A, "apply", "--prune", "--max-delete", "2") == 3
    assert "--prune would delete 3 items, more than --max-delete 2: nothing done" in capsys.readouterr().err
    assert sorted(fake.items) == ALL
    assert sync(a, A, "apply", "--prune") == 0
    assert "consumer" not in fake.items and "consumer-new" in fake.items


def test_prune_disable_keeps_history_and_a_returning_job_is_enabled(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    assert sync(a, A, "apply") == 0
    fake.add_build("team/build")
    fake.add_build("team/build", result="FAILURE")
    text = (a / "jobs.yml").read_text()
    (a / "jobs.yml").write_text(text.replace("  - name: team/build\n    shell: make\n", ""))
    fake.reset_counts()
    assert sync(a, A, "apply", "--prune", "--prune-action", "disable") == 0
    assert "1 disabled" in capsys.readouterr().err
    assert [p for _, p, _ in fake.writes()] == ["/job/team/job/build/disable"]
    assert fake.items["team/build"].disabled and fake.build_numbers("team/build") == [1, 2]
    fake.reset_counts()
    assert sync(a, A, "apply", "--prune", "--prune-action", "disable") == 0  # already disabled: nothing to do
    assert fake.writes() == []
    (a / "jobs.yml").write_text(text)
    fake.reset_counts()
    assert sync(a, A, "apply") == 0
    assert [p for _, p, _ in fake.writes()] == ["/job/team/job/build/enable"]
    assert not fake.items["team/build"].disabled and fake.build_numbers("team/build") == [1, 2]
    fake.reset_counts()
    assert sync(a, A, "apply") == 0 and fake.requests == 1


def test_previous_names_rename_keeps_build_history_and_numbers(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    assert sync(a, A, "apply") == 0
    for _ in range(3):
        fake.add_build("producer")
    fake.add_build("team/build")
    text = (a / "jobs.yml").read_text()
    text = text.replace("  - name: producer\n", "  - name: publisher\n    previous_names: [producer]\n")
    text = text.replace("  - name: team/build\n", "  - name: team/nightly/compile\n    previous_names: [team/build]\n")
    (a / "jobs.yml").write_text(text)
    assert sync(a, A, "diff", "--prune") == 0
    out = capsys.readouterr().out
    assert "> rename    job    producer -> publisher (renamed on the server (previous_names): history kept)" in out
    assert "> rename    job    team/build -> team/nightly/compile (moved and renamed on the server" in out
    assert "delete" not in out.replace("0 delete", "")
    fake.reset_counts()
    assert sync(a, A, "apply", "--prune") == 0
    assert "2 renamed" in capsys.readouterr().err
    writes = [p for _, p, _ in fake.writes()]
    rename = ["/job/producer/confirmRename?newName=publisher", "/job/publisher/config.xml"]
    move = [
        "/job/team/job/build/move/move?destination=/team/nightly",
        "/job/team/job/nightly/job/build/confirmRename?newName=compile",
        "/job/team/job/nightly/job/compile/config.xml",
    ]
    assert sorted(writes) == sorted(rename + move)
    assert [w for w in writes if w in rename] == rename and [w for w in writes if w in move] == move
    assert "producer" not in fake.items and "team/build" not in fake.items
    assert fake.build_numbers("publisher") == [1, 2, 3] and fake.items["publisher"].next_build == 4
    assert fake.build_numbers("team/nightly/compile") == [1]
    assert configxml.parse_marker(fake.items["publisher"].description) == configxml.Marker(
        configxml.marker_hash(fake.items["publisher"].description) or "", A, "publisher"
    )
    fake.reset_counts()
    assert sync(a, A, "apply", "--prune") == 0 and fake.requests == 1


def test_upgrade_from_the_ownerless_marker(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    specs = jobspecs.load(a)
    for item in specs.items:  # what an older jobsync wrote
        fake.put(item.name, configxml.render(item))
    old = model.Freestyle(name="retired", shell=("make",))
    fake.put("retired", configxml.render(old))
    fake.add_build("producer")
    assert sync(a, A, "diff", "--prune") == 0
    out = capsys.readouterr().out
    assert "~ update    job    producer (marker of an older jobsync without an owner: taking it over)" in out
    assert "? unmanaged job    retired (marker of an older jobsync without an owner, and no spec names it" in out
    fake.reset_counts()
    assert sync(a, A, "apply", "--prune") == 0
    assert len(fake.writes()) == 6 and all(p.endswith("/config.xml") for _, p, _ in fake.writes())
    assert "retired" in fake.items and fake.build_numbers("producer") == [1]
    assert all(configxml.parse_marker(fake.items[n].description).owner == A for n in ALL)  # type: ignore[union-attr]
    fake.reset_counts()
    assert sync(a, A, "apply", "--prune") == 0 and fake.requests == 1


def test_a_running_build_is_not_deleted(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    assert sync(a, A, "apply") == 0
    fake.add_build("team/nightly/test", building=True)
    text = (a / "jobs.yml").read_text().replace("  - name: team/nightly\n", "")
    (a / "jobs.yml").write_text(text.replace("  - name: team/nightly/test\n    shell: make test\n", ""))
    capsys.readouterr()
    report = tmp_path / "r.json"
    assert sync(a, A, "apply", "--prune", "--report", str(report)) == 0
    err = capsys.readouterr().err
    assert "WARNING: team/nightly/test: not deleted: a build is running (a later --prune deletes it)" in err
    assert "2 kept: build running" in err
    assert "team/nightly/test" in fake.items and "team/nightly" in fake.items
    assert json.loads(report.read_text())["kept_running"] == ["team/nightly/test", "team/nightly"]
    fake.finish_builds("team/nightly/test")
    assert sync(a, A, "apply", "--prune") == 0
    assert "team/nightly" not in fake.items and "team/nightly/test" not in fake.items


def test_names_are_case_insensitive_in_the_plan(fake, env, tmp_path, capsys):
    a = jobs_dir(tmp_path, "a", JOBS)
    assert sync(a, A, "apply") == 0
    assert post(fake, "createItem?name=Producer").status_code == 400  # Jenkins: the name is taken
    text = (a / "jobs.yml").read_text()
    (a / "jobs.yml").write_text(text.replace("  - name: producer\n", "  - name: Producer\n"))
    fake.reset_counts()
    capsys.readouterr()
    assert sync(a, A, "apply", "--prune") == 1
    err = capsys.readouterr().err
    assert "Producer: collides with 'producer' on the server (Jenkins item names are case-insensitive)" in err
    assert fake.writes() == [] and "producer" in fake.items


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (OTHER + "  - {name: b, type: freestyle, previous_names: [Other]}\n", "'Other' is the name of 'other'"),
        (
            OTHER
            + "  - {name: b, type: freestyle, previous_names: [a]}\n"
            + "  - {name: c, type: freestyle, previous_names: [a]}\n",
            "'a' is also a previous name of 'b'",
        ),
        ("jobs:\n  - {name: b, type: freestyle, previous_names: ['x.']}\n", "previous_names: 'x.': Jenkins rejects"),
    ],
)
def test_previous_names_are_checked(env, tmp_path, capsys, text, message):
    d = jobs_dir(tmp_path, "m", text)
    assert jobsync.main(["render", "--jobs-dir", str(d)]) == 2
    assert message in capsys.readouterr().err


def test_an_item_holding_jobs_is_never_replaced(fake, env, tmp_path, capsys):
    """A multibranch project is no ``.Folder`` class, but api/json exports its ``jobs``: never deleted."""
    a = jobs_dir(tmp_path, "a", JOBS)
    fake.put("producer", f"<{MULTIBRANCH}><description>hand made</description></{MULTIBRANCH}>")
    fake.put("producer/main", "<flow-definition><description/></flow-definition>")
    assert sync(a, A, "apply", "--adopt", "--replace") == 1
    err = capsys.readouterr().err
    assert "producer: is a multibranch pipeline on the server but a freestyle job in the specs: not replaced" in err
    assert "producer/main" in fake.items and fake.items["producer"].cls == MULTIBRANCH


def test_owner_comes_from_git_origin_and_is_required(fake, env, tmp_path, capsys):
    repo = tmp_path / "clone"
    d = jobs_dir(repo / "jenkins", "jobs", OTHER)
    assert jobsync.main(["diff", "--jobs-dir", str(d)]) == 2
    err = capsys.readouterr().err
    assert "not in a git repository" in err and "TIP: pass --owner ID or set CA_JOBSYNC_OWNER" in err
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert jobsync.main(["diff", "--jobs-dir", str(d)]) == 2
    assert "without an 'origin' remote" in capsys.readouterr().err
    url = "https://ci:s3cr3t-token@GitHub.com:443/acme/app.git/"
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", url], check=True)
    assert owner.resolve(d, None) == "github.com/acme/app:jenkins/jobs"
    assert owner.normalise_url("git@github.com:acme/app") == "github.com/acme/app"
    assert owner.normalise_url("ssh://git@github.com:22/acme/app.git") == "github.com/acme/app"
    assert jobsync.main(["apply", "--jobs-dir", str(d)]) == 0
    assert configxml.parse_marker(fake.items["other"].description).owner == "github.com/acme/app:jenkins/jobs"  # type: ignore[union-attr]
    assert "s3cr3t" not in fake.config("other")
    assert jobsync.main(["apply", "--jobs-dir", str(d), "--owner", "has space"]) == 2


def test_diff_report_carries_the_groups(fake, env, tmp_path, capsys):
    a, b = jobs_dir(tmp_path, "a", JOBS), jobs_dir(tmp_path, "b", OTHER)
    assert sync(b, B, "apply") == 0
    assert sync(a, A, "apply") == 0
    fake.put("manual", "<project><description>hand made</description></project>")
    report = tmp_path / "plan.json"
    assert sync(a, A, "diff", "--report", str(report)) == 0
    data = json.loads(report.read_text())
    assert data["owner"] == A
    assert set(data["plan"]) == {
        "create",
        "update",
        "rename",
        "unchanged",
        "delete",
        "foreign",
        "unmanaged",
        "conflict",
    }
    assert data["plan"]["foreign"] == [{"name": "other", "kind": "job", "action": "foreign", "reason": f"owned by {B}"}]
    assert data["plan"]["unmanaged"] == [
        {"name": "manual", "kind": "job", "action": "unmanaged", "reason": "no jobsync marker"}
    ]
    assert len(data["plan"]["unchanged"]) == 6 and data["counts"]["unchanged"] == 6
