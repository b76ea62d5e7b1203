"""The plan from specs and a tree answer, without a server: who owns what, what is pruned, and why."""

from __future__ import annotations

import pytest

from jenkins_codeartifact.errors import OperationError, PreconditionError
from jenkins_codeartifact.jobsync import configxml, model, planning, sync
from jenkins_codeartifact.jobsync.client import Remote

A, B = "git.example.com/a:jobs", "git.example.com/b:jobs"
FREESTYLE, FOLDER = configxml.CLASSES[model.Freestyle], configxml.FOLDER_CLASS


def remote(item: model.Item, owner: str | None, name: str | None = None, **kw: object) -> Remote:
    """``item`` as the tree query shows it after ``owner`` applied it (under ``name`` if it was copied)."""
    return Remote(name or item.name, configxml.CLASSES[type(item)], configxml.described(item, owner), **kw)  # type: ignore[arg-type]


def by_name(plan: planning.Plan) -> dict[str, tuple[str, str]]:
    return {c.name: (c.action.value, c.reason) for c in plan.changes}


def test_each_server_item_is_classified_by_its_marker():
    job, other, team = model.Freestyle(name="job"), model.Freestyle(name="other"), model.Folder(name="team")
    remotes = [
        remote(job, A),
        remote(other, B),
        remote(job, A, name="job-copy"),
        remote(model.Freestyle(name="old"), None),
        Remote("hand", FREESTYLE, "made in the UI"),
        remote(team, B),
    ]
    specs = model.Specs((team, job))
    plan = planning.plan(specs, remotes, A)
    got = by_name(plan)
    assert got["job"] == ("unchanged", "current")
    assert got["other"] == ("foreign", f"owned by {B}")
    assert got["job-copy"][0] == "unmanaged" and "a copy of job" in got["job-copy"][1]
    assert got["old"][0] == "unmanaged" and "older jobsync" in got["old"][1]
    assert got["hand"] == ("unmanaged", "no jobsync marker")
    assert got["team"][0] == "foreign" and "used as a parent folder" in got["team"][1]
    assert plan.kept == 1 and plan.of(planning.Action.DELETE) == []


def test_a_spec_naming_another_owners_job_is_a_conflict_unless_adopt():
    job = model.Freestyle(name="job", shell=("make",))
    assert by_name(planning.plan(model.Specs((job,)), [remote(job, B)], A))["job"][0] == "conflict"
    taken = by_name(planning.plan(model.Specs((job,)), [remote(job, B)], A, adopt=True))["job"]
    assert taken == ("update", f"owned by {B}: taking it over (--adopt)")


def test_names_fold_as_jenkins_does():
    app = model.Freestyle(name="app")
    plan = planning.plan(model.Specs((model.Freestyle(name="App"),)), [remote(app, A)], A)
    assert by_name(plan) == {
        "App": ("conflict", "collides with 'app' on the server (Jenkins item names are case-insensitive): "
                "rename the spec or the item"),
    }  # fmt: skip


def test_prune_refuses_all_of_an_owner_or_more_than_the_limit():
    jobs = [model.Freestyle(name=f"j{i}") for i in range(12)]
    remotes = [remote(j, A) for j in jobs]
    empty = planning.plan(model.Specs(()), remotes, A)
    with pytest.raises(PreconditionError, match="every item of owner"):
        empty.check_prune(max_delete=20, allow_all=False)
    empty.check_prune(max_delete=20, allow_all=True)
    most = planning.plan(model.Specs((jobs[0],)), remotes, A)
    with pytest.raises(PreconditionError, match="11 items, more than --max-delete 10"):
        most.check_prune(max_delete=10, allow_all=True)
    most.check_prune(max_delete=11, allow_all=False)


def test_disable_mode_skips_folders_and_disabled_jobs_and_a_disabled_spec_job_is_enabled():
    job, gone, done, team = (model.Freestyle(name=n) for n in ("job", "gone", "done", "team-x"))
    remotes = [
        remote(job, A, color="disabled"),
        remote(gone, A, color="blue"),
        remote(done, A, color="disabled"),
        Remote("f", FOLDER, configxml.described(model.Folder(name="f"), A), container=True),
    ]
    got = by_name(planning.plan(model.Specs((job, team)), remotes, A, prune_action="disable"))
    assert got["job"] == ("update", "disabled on the server, enabled in the specs")
    assert got["gone"][0] == "delete" and got["done"][0] == got["f"][0] == "unchanged"


def test_rename_only_from_this_owners_item_of_the_same_type():
    new = model.Freestyle(name="new", previous_names=("old",))
    ours = by_name(planning.plan(model.Specs((new,)), [remote(model.Freestyle(name="old"), A)], A))
    assert ours == {"new": ("rename", "renamed on the server (previous_names): history kept")}
    theirs = by_name(planning.plan(model.Specs((new,)), [remote(model.Freestyle(name="old"), B)], A))
    assert theirs["new"][0] == "create" and theirs["old"][0] == "foreign"
    busy = remote(model.Freestyle(name="old"), A, color="blue_anime")
    assert by_name(planning.plan(model.Specs((new,)), [busy], A))["new"][0] == "conflict"


def test_the_plan_asks_for_the_tree_once_and_its_failure_is_the_plans():
    """One tree query per plan; a server that cannot list its jobs is the plan's error, as the server said it."""
    specs = model.Specs(tuple(model.Freestyle(name=f"pkg-{i:04d}") for i in range(200)))

    class Server:
        workers = 1
        fail = False
        queries = 0

        def tree(self, depth: int) -> list[Remote]:
            self.queries += 1
            if self.fail:
                raise OperationError("listing jobs: HTTP 503 from http://jenkins:8080/ (5 attempts)")
            return [remote(specs.items[0], A)]

    server = Server()
    plan = sync.plan(specs, server, A)  # type: ignore[arg-type]
    assert server.queries == 1
    assert by_name(plan)["pkg-0000"][0] == "unchanged" and by_name(plan)["pkg-0001"][0] == "create"
    server.fail = True
    with pytest.raises(OperationError, match="listing jobs: HTTP 503"):
        sync.plan(specs, server, A)  # type: ignore[arg-type]
