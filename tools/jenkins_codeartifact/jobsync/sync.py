"""Plan against what the server really holds, then apply with bounded parallelism.

Requests are the cost that matters, so the plan is ONE tree query
(``api/json?tree=jobs[name,description,jobs[...]]``): the hash marker in each managed description says
whether the job is current. A no-op sync is that single GET. ``verify=True`` additionally fetches every
managed job's config.xml and compares it canonicalised, which catches hand edits that kept the
description. Writes are one POST each (createItem, config.xml, doDelete) through :mod:`.client`,
rather than python-jenkins's create_job/delete_job helpers, which add existence checks before and
after and so cost three or four requests per job.

Safety: a job whose description has no marker is not ours. It is never updated or deleted; a spec that
names it is a conflict unless ``adopt=True``. A job whose type changed (freestyle, pipeline, folder) is a
conflict unless ``replace=True``: Jenkins cannot change an item's type in place, and deleting it to
recreate it loses its build history (and, should the create then fail, the job). A folder on the server
is never replaced, since Jenkins deletes folders with their contents. Deleting a managed folder that
still holds anything we do not manage is refused.
"""

from __future__ import annotations

import difflib
import enum
import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import redact
from ..errors import OperationError
from . import configxml
from .client import Client as Client  # re-exported: plan and apply take one
from .client import Remote as Remote
from .model import Folder, Item, Specs

log = logging.getLogger(__name__)
# Folder levels the plan's tree query reaches below the deepest spec, so that --prune sees managed jobs
# left in folders that are no longer in the specs; and the depth checked before deleting a folder.
EXTRA_DEPTH = 4
SUBTREE_DEPTH = 20


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"
    CONFLICT = "conflict"


_PAST = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted", Action.CONFLICT: "conflict"}


@dataclass
class Change:
    """One planned step; ``xml`` is what will be sent, ``diff`` explains an update when it was fetched."""

    action: Action
    name: str
    kind: str
    item: Item | None = None
    reason: str = ""
    diff: str = ""
    replace: bool = False

    @functools.cached_property
    def xml(self) -> str | None:
        """Rendered on demand: a no-op sync needs only the descriptions, not 1000 serialised configs."""
        return configxml.render(self.item) if self.item is not None else None

    @property
    def depth(self) -> int:
        return self.name.count("/")

    @property
    def parent(self) -> str:
        return self.name.rpartition("/")[0]


@dataclass
class Plan:
    changes: list[Change]

    def of(self, *actions: Action) -> list[Change]:
        return [c for c in self.changes if c.action in actions]

    def counts(self) -> dict[str, int]:
        return {a.value: len(self.of(a)) for a in Action}

    def render(self, prune: bool = False) -> str:
        """The human-readable plan printed by ``jobsync diff`` (stdout)."""
        symbols = {
            Action.CREATE: "+",
            Action.UPDATE: "~",
            Action.UNCHANGED: "=",
            Action.DELETE: "-",
            Action.CONFLICT: "!",
        }
        lines = []
        for c in sorted(self.changes, key=lambda c: (c.action is Action.UNCHANGED, c.name)):
            note = f" ({c.reason})" if c.reason else ""
            if c.action is Action.DELETE and not prune:
                note += " (only with --prune)"
            lines.append(f"{symbols[c.action]} {c.action.value:9} {c.kind:6} {c.name}{note}")
            if c.diff:
                lines.append(c.diff.rstrip("\n"))
        n = self.counts()
        lines.append(", ".join(f"{v} {k}" for k, v in n.items() if v or k != "conflict"))
        return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    change: Change
    error: str | None = None


@dataclass
class Result:
    outcomes: list[Outcome] = field(default_factory=list)
    unchanged: int = 0
    skipped_deletes: int = 0
    # Set when a signal ended apply: requests that were on their way (each may or may not have landed)
    # and planned steps never started.
    aborted: bool = False
    in_flight: list[str] = field(default_factory=list)
    not_attempted: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    def summary(self) -> str:
        done: dict[str, int] = {}
        for o in self.outcomes:
            if o.error is None:
                done[o.change.action.value] = done.get(o.change.action.value, 0) + 1
        parts = [
            f"{done.get('create', 0)} created",
            f"{done.get('update', 0)} updated",
            f"{self.unchanged} unchanged",
            f"{done.get('delete', 0)} deleted",
            f"{len(self.failed)} failed",
        ]
        if self.skipped_deletes:
            parts.append(f"{self.skipped_deletes} not in the specs (kept; --prune deletes them)")
        if self.aborted:
            parts.append(
                f"aborted with {len(self.in_flight)} in flight (may or may not be applied) "
                f"and {len(self.not_attempted)} not attempted"
            )
        return ", ".join(parts)

    def as_report(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "unchanged": self.unchanged,
            "changes": [
                {"name": o.change.name, "action": o.change.action.value, "ok": o.error is None, "error": o.error}
                for o in self.outcomes
            ],
            "aborted": self.aborted,
            "in_flight": self.in_flight,
            "not_attempted": self.not_attempted,
        }


# --------------------------------------------------------------------------------------------- plan


def _kind(item: Item) -> str:
    return "folder" if isinstance(item, Folder) else "job"


def _diff(name: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            configxml.canonical(old).splitlines(keepends=True),
            configxml.canonical(new).splitlines(keepends=True),
            fromfile=f"{name} (server)",
            tofile=f"{name} (specs)",
        )
    )


def _type(cls: str) -> str:
    return configxml.TYPE_NAMES.get(cls, cls or "unknown type")


def plan(
    specs: Specs,
    client: Client,
    verify: bool = False,
    diffs: bool = False,
    adopt: bool = False,
    replace: bool = False,
) -> Plan:
    """Compare specs with the server: one tree query, plus one GET per job when ``verify`` or ``diffs``.

    ``diffs`` fetches config.xml only for jobs that will be updated, to show a unified diff. ``adopt``
    takes over same-named jobs without the marker; ``replace`` deletes and recreates a job whose type
    changed (otherwise a conflict).
    """
    depth = max((i.name.count("/") for i in specs.items), default=0) + EXTRA_DEPTH
    remote = {r.name: r for r in client.tree(depth)}
    changes: list[Change] = []
    for item in specs.items:
        kind = _kind(item)
        have = remote.get(item.name)
        expected_cls = configxml.CLASSES[type(item)]
        if have is None:
            changes.append(Change(Action.CREATE, item.name, kind, item))
            continue
        if not have.managed and not adopt:
            changes.append(
                Change(
                    Action.CONFLICT,
                    item.name,
                    kind,
                    item,
                    "exists on the server and is not managed by jobsync; rename it, delete it, or pass --adopt",
                )
            )
            continue
        if have.cls and have.cls != expected_cls:
            change = f"is a {_type(have.cls)} on the server but a {_type(expected_cls)} in the specs"
            if have.is_folder:
                reason = f"{change}: not replaced, that would delete everything in it; delete or rename it by hand"
                changes.append(Change(Action.CONFLICT, item.name, kind, item, reason))
            elif not replace:
                reason = f"{change}: pass --replace to delete it (build history included) and create it anew"
                changes.append(Change(Action.CONFLICT, item.name, kind, item, reason))
            else:
                reason = f"{change}: delete and create anew (--replace)"
                changes.append(Change(Action.UPDATE, item.name, kind, item, reason, replace=True))
            continue
        if not configxml.same_description(have.description, configxml.described(item)):
            reason = (
                "not managed yet: adopting"
                if not have.managed
                else (
                    "specs changed"
                    if configxml.marker_hash(have.description) != configxml.content_hash(item)
                    else "description edited on the server"
                )
            )
            changes.append(Change(Action.UPDATE, item.name, kind, item, reason))
            continue
        changes.append(Change(Action.UNCHANGED, item.name, kind, item))
    wanted = {i.name for i in specs.items}
    for r in remote.values():
        if r.managed and r.name not in wanted:
            changes.append(
                Change(
                    Action.DELETE, r.name, "folder" if r.is_folder else "job", reason="managed, no longer in the specs"
                )
            )
    to_fetch = [
        c
        for c in changes
        if (verify and c.action is Action.UNCHANGED) or (diffs and c.action is Action.UPDATE and not c.replace)
    ]
    if to_fetch:
        fetched = _parallel(lambda c: client.config(c.name), to_fetch, client.workers)
        for c, (text, error) in zip(to_fetch, fetched, strict=True):
            if error is not None:
                c.action, c.reason = Action.CONFLICT, f"cannot read config.xml: {error}"
                continue
            assert text is not None and c.xml is not None
            diff = _diff(c.name, text, c.xml)
            lost = configxml.dropped(text, c.xml) if c.action is Action.UNCHANGED and diff else []
            if lost:  # sending it again would be dropped again: say what is missing instead
                what = ", ".join(f"{cls} (plugin {plugin})" for cls, plugin in lost)
                plugins = ", ".join(sorted({plugin for _, plugin in lost}))
                c.action, c.reason = (
                    Action.CONFLICT,
                    f"Jenkins dropped {what} from config.xml: install {plugins} on the server, or remove that "
                    "setting from the spec; not sent again",
                )
            elif c.action is Action.UNCHANGED and diff:
                c.action, c.reason = Action.UPDATE, "config.xml edited on the server"
            if diff and diffs:
                c.diff = diff
    return plan_sorted(changes)


def plan_sorted(changes: list[Change]) -> Plan:
    return Plan(sorted(changes, key=lambda c: (c.depth, c.name)))


# -------------------------------------------------------------------------------------------- apply


def _parallel(
    fn: Callable[[Change], Any],
    changes: list[Change],
    workers: int,
    started: set[str] | None = None,
    done: Callable[[Change, str | None], None] | None = None,
) -> list[tuple[Any, str | None]]:
    """Run ``fn`` over ``changes`` with at most ``workers`` threads; failures are returned, not raised.

    ``started`` collects the names whose request began; ``done`` is called in this thread as each ends.
    A signal (SIGTERM, Ctrl-C) raised while this thread waits stops it at once: no further request
    starts and the ones in flight are left to their daemon threads, so an abort never waits for a
    Jenkins that does not answer.
    """

    def call(c: Change) -> tuple[Any, str | None]:
        try:
            return fn(c), None
        except OperationError as exc:
            return None, exc.message
        except Exception as exc:  # one unexpected failure must not stop the other jobs
            log.debug("%s failed", c.name, exc_info=True)
            return None, redact.scrub(f"unexpected {type(exc).__name__}: {exc}")

    if not changes:
        return []
    results: list[tuple[Any, str | None]] = [(None, None)] * len(changes)
    finished: queue.Queue[tuple[int, tuple[Any, str | None]]] = queue.Queue()
    todo = iter(range(len(changes)))
    lock, stop = threading.Lock(), threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                i = next(todo, None)
                if i is None or stop.is_set():
                    return
                if started is not None:
                    started.add(changes[i].name)
            finished.put((i, call(changes[i])))

    for _ in range(max(1, min(workers, len(changes)))):
        threading.Thread(target=worker, name="jobsync-worker", daemon=True).start()
    try:
        for _ in changes:
            i, outcome = finished.get()
            results[i] = outcome
            if done is not None:
                done(changes[i], outcome[1])
    except BaseException:
        stop.set()
        raise
    return results


def _levels(changes: list[Change], reverse: bool = False) -> Iterator[list[Change]]:
    depths = sorted({c.depth for c in changes}, reverse=reverse)
    for d in depths:
        yield [c for c in changes if c.depth == d]


def apply(plan_: Plan, client: Client, prune: bool = False, result: Result | None = None) -> Result:
    """Carry out ``plan_``: folders level by level, then jobs, then (``--prune``) deletions deepest first.

    At most ``client.workers`` requests run at once. A failure is recorded and the rest goes on;
    children of a folder that failed are reported as failed without a request. ``result`` is filled as
    steps end, so a caller still has it when a signal aborts the run (then marked ``aborted``).
    """
    result = result if result is not None else Result()
    result.unchanged = len(plan_.of(Action.UNCHANGED))
    started: set[str] = set()
    try:
        _apply(plan_, client, prune, result, started)
    except BaseException:  # SIGTERM, Ctrl-C: say what is done, on its way, and never started
        recorded = {o.change.name for o in result.outcomes}
        steps = plan_.of(Action.CREATE, Action.UPDATE, *((Action.DELETE,) if prune else ()))
        result.aborted = True
        result.in_flight = sorted(started - recorded)
        result.not_attempted = [c.name for c in steps if c.name not in recorded and c.name not in started]
        log.error("ERROR: jobsync apply aborted: %s", result.summary())
        raise
    return result


def _apply(plan_: Plan, client: Client, prune: bool, result: Result, started: set[str]) -> None:
    workers = client.workers
    failed_names: set[str] = set()
    lock = threading.Lock()

    def record(c: Change, error: str | None) -> None:
        with lock:
            result.outcomes.append(Outcome(c, error))
            if error is None:
                log.info("%s %s %s", _PAST[c.action], c.kind, c.name)
            else:
                failed_names.add(c.name)
                log.error("ERROR: %s", error)

    def blocked(c: Change) -> str | None:
        parts = c.name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in failed_names:
                return f"{c.name}: skipped: folder {'/'.join(parts[:i])} failed"
        return None

    def write(c: Change) -> None:
        assert c.xml is not None
        if c.action is Action.CREATE:
            client.create(c.name, c.xml)
        elif c.replace:
            client.delete(c.name)
            try:
                client.create(c.name, c.xml)
            except OperationError as exc:
                raise OperationError(
                    f"{exc.message} (the old job was deleted for --replace; run apply again to create it)"
                ) from None
        else:
            client.update(c.name, c.xml)

    def run(batch: list[Change], fn: Callable[[Change], Any]) -> None:
        ready = []
        for c in batch:
            why = blocked(c)
            if why:
                record(c, why)
            else:
                ready.append(c)
        _parallel(fn, ready, workers, started, record)

    for c in plan_.of(Action.CONFLICT):
        record(c, f"{c.name}: {c.reason}")
    writes = plan_.of(Action.CREATE, Action.UPDATE)
    folders = [c for c in writes if c.kind == "folder"]
    for level in _levels(folders):
        run(level, write)
    run([c for c in writes if c.kind != "folder"], write)

    deletes = plan_.of(Action.DELETE)
    if not prune:
        result.skipped_deletes = len(deletes)
    else:
        run([c for c in deletes if c.kind != "folder"], lambda c: client.delete(c.name))
        folder_deletes = [c for c in deletes if c.kind == "folder"]
        for level in _levels(folder_deletes, reverse=True):
            run(level, lambda c: _delete_folder(client, c))


def _delete_folder(client: Client, change: Change) -> None:
    """Delete a managed folder only if nothing unmanaged is left anywhere inside (Jenkins deletes recursively)."""
    left = [r for r in client.tree(SUBTREE_DEPTH, change.name) if not r.managed]
    if left:
        names = ", ".join(r.name for r in left[:5])
        raise OperationError(f"{change.name}: not deleted: it still holds jobs jobsync does not manage ({names})")
    client.delete(change.name)
