"""Plan against the server with one request, and apply a plan with bounded parallelism.

Requests are the cost that matters, so the plan is ONE tree query
(``api/json?tree=jobs[name,description,color,jobs[...]]``): the marker in each managed description says
whose the item is and whether it is current (see :mod:`.planning`). A no-op sync is that single GET.
``verify=True`` additionally fetches every managed job's config.xml and compares it canonicalised,
which catches hand edits that kept the description. Writes are one POST each (createItem, config.xml,
doDelete, confirmRename, disable, enable) through :mod:`.client`, rather than python-jenkins's
create_job/delete_job helpers, which add existence checks before and after and so cost three or four
requests per job.

Safety: only this owner's items are ever updated, renamed or deleted. A job whose type changed
(freestyle, pipeline, folder) is a conflict unless ``replace=True``: Jenkins cannot change an item's type
in place, and deleting it to recreate it loses its build history (and, should the create then fail, the
job). An item that holds others (``jobs`` in api/json) is never replaced, since Jenkins deletes it with
its contents. Deleting a folder that still holds anything not ours, or a running build, is refused; a
job with a running build is not deleted in that run (the next run deletes it).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import redact, signals
from ..errors import OperationError
from . import importxml, planning, xmlcompare
from .client import Client as Client  # re-exported: plan and apply take one
from .client import Remote as Remote
from .model import Specs
from .planning import Action, Change, Plan

__all__ = ["Action", "Change", "Client", "Plan", "Remote", "Result", "apply", "plan"]

log = logging.getLogger(__name__)
# Folder levels the plan's tree query reaches below the deepest spec, so that --prune sees managed jobs
# left in folders that are no longer in the specs; and the depth checked before deleting a folder.
EXTRA_DEPTH = 4
SUBTREE_DEPTH = 20


_PAST = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.RENAME: "renamed",
    Action.DELETE: "deleted",
    Action.CONFLICT: "conflict",
}


@dataclass
class Outcome:
    change: Change
    error: str | None = None


@dataclass
class Result:
    outcomes: list[Outcome] = field(default_factory=list)
    unchanged: int = 0
    skipped_deletes: int = 0
    kept_running: list[str] = field(default_factory=list)  # not deleted: a build was running
    plan: Plan | None = None
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
                done[o.change.verb] = done.get(o.change.verb, 0) + 1
        parts = [
            f"{done.get('create', 0)} created",
            f"{done.get('update', 0)} updated",
            *([f"{done['rename']} renamed"] if done.get("rename") else []),
            f"{self.unchanged} unchanged",
            f"{done.get('delete', 0)} deleted",
            *([f"{done['disable']} disabled"] if done.get("disable") else []),
            f"{len(self.failed)} failed",
        ]
        if self.kept_running:
            parts.append(f"{len(self.kept_running)} kept: build running (a later --prune deletes them)")
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
                {"name": o.change.name, "action": o.change.verb, "ok": o.error is None, "error": o.error}
                for o in self.outcomes
            ],
            "kept_running": self.kept_running,
            "plan": self.plan.groups() if self.plan is not None else {},
            "aborted": self.aborted,
            "in_flight": self.in_flight,
            "not_attempted": self.not_attempted,
        }


# --------------------------------------------------------------------------------------------- plan


def plan(
    specs: Specs,
    client: Client,
    owner: str,
    verify: bool = False,
    diffs: bool = False,
    adopt: bool = False,
    replace: bool = False,
    prune_action: str = "delete",
) -> Plan:
    """Compare specs with the server: one tree query, plus one GET per job when ``verify`` or ``diffs``.

    ``diffs`` fetches config.xml only for jobs that will be updated, to show a unified diff. ``adopt``
    takes over same-named items that are not this owner's; ``replace`` deletes and recreates a job whose
    type changed (otherwise a conflict). See :mod:`.planning` for how each item is classified.
    """
    depth = max((i.name.count("/") for i in specs.items), default=0) + EXTRA_DEPTH
    tree = client.tree(depth)
    p = planning.plan(specs, tree, owner, adopt=adopt, replace=replace, prune_action=prune_action)
    _adoptions(p, client)
    to_fetch = [
        c
        for c in p.changes
        if (verify and c.action is Action.UNCHANGED and c.item is not None)
        or (diffs and c.action is Action.UPDATE and not c.replace and not c.enable)
    ]
    if to_fetch:
        fetched = _parallel(lambda c: client.config(c.name), to_fetch, client.workers)
        for c, (text, error) in zip(to_fetch, fetched, strict=True):
            if error is not None:
                c.action, c.reason = Action.CONFLICT, f"cannot read config.xml: {error}"
                continue
            assert text is not None and c.xml is not None
            diff = planning.diff(c.name, text, c.xml)
            lost = xmlcompare.dropped(text, c.xml) if c.action is Action.UNCHANGED and diff else []
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
    return p


def _adoptions(p: Plan, client: Client) -> None:
    """Unmarked items whose config.xml is already the spec's (just imported): taken over without --adopt,
    the marker added to the description and nothing else. One GET per such item; any other stays a conflict."""
    candidates = [c for c in p.changes if c.adoptable and c.item is not None]
    if not candidates:
        return
    fetched = _parallel(lambda c: client.config(c.name), candidates, client.workers)
    for c, (text, error) in zip(candidates, fetched, strict=True):
        assert c.item is not None
        if error is None and text is not None and importxml.prove(c.item, text):
            c.action = Action.UPDATE
            c.reason = "not managed yet, config.xml as in the specs: taking it over (marker added to the description)"


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
        signals.start_thread(worker, name="jobsync-worker")  # blocks SIGTERM/SIGINT: the main thread takes them
    try:
        for _ in changes:
            i, outcome = finished.get()  # a plain wait: an abort ends it at once
            results[i] = outcome
            if done is not None:
                done(changes[i], outcome[1])
    except BaseException:
        stop.set()
        while done is not None:  # what ended before the signal was handled is done, not in flight
            try:
                i, outcome = finished.get_nowait()
            except queue.Empty:
                break
            done(changes[i], outcome[1])
        raise
    return results


def _levels(changes: list[Change], reverse: bool = False) -> Iterator[list[Change]]:
    depths = sorted({c.depth for c in changes}, reverse=reverse)
    for d in depths:
        yield [c for c in changes if c.depth == d]


def apply(
    plan_: Plan,
    client: Client,
    prune: bool = False,
    result: Result | None = None,
    max_delete: int = 10,
    allow_all: bool = False,
) -> Result:
    """Carry out ``plan_``: folders level by level, then jobs and renames, then (``--prune``) deletions.

    A prune that would remove more than ``max_delete`` items, or every item of this owner (unless
    ``allow_all``), is refused before any request (PreconditionError, exit 3); otherwise what it will
    remove is logged before anything is written. At most ``client.workers`` requests run at once. A
    failure is recorded and the rest goes on; children of a folder that failed are reported as failed
    without a request. A job with a running build is kept (a warning, not a failure). ``result`` is
    filled as steps end, so a caller still has it when a signal aborts the run (then marked ``aborted``).
    """
    if prune:
        plan_.check_prune(max_delete, allow_all)
        for c in plan_.of(Action.DELETE):
            log.info("--prune will %s %s %s (%s)", c.verb, c.kind, c.name, c.reason)
    result = result if result is not None else Result()
    result.unchanged = len(plan_.of(Action.UNCHANGED))
    result.plan = plan_
    started: set[str] = set()
    try:
        _apply(plan_, client, prune, result, started)
    except BaseException:  # SIGTERM, Ctrl-C: say what is done, on its way, and never started
        recorded = {o.change.name for o in result.outcomes}
        steps = plan_.of(Action.CREATE, Action.UPDATE, Action.RENAME, *((Action.DELETE,) if prune else ()))
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

    kept: set[str] = set()  # prune steps that found a running build: neither done nor failed

    def record(c: Change, error: str | None) -> None:
        with lock:
            if error is None and c.name in kept:
                return
            result.outcomes.append(Outcome(c, error))
            if error is None:
                log.info("%s %s %s", "disabled" if c.disable else _PAST[c.action], c.kind, c.title)
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
        elif c.action is Action.RENAME:
            _rename(client, c)
        elif c.enable:
            client.enable(c.name)
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

    def keep(c: Change) -> None:
        with lock:
            kept.add(c.name)
            result.kept_running.append(c.name)
        log.warning("WARNING: %s: not deleted: a build is running (a later --prune deletes it)", c.name)

    def prune_job(c: Change) -> None:
        if c.disable:
            client.disable(c.name)
        elif client.building(c.name):
            keep(c)
        else:
            client.delete(c.name)

    def prune_folder(c: Change) -> None:
        with lock:
            busy = any(k.startswith(c.name + "/") for k in kept)
        if busy or not _delete_folder(client, c, plan_.owner):
            keep(c)

    for c in plan_.of(Action.CONFLICT):
        record(c, f"{c.name}: {c.reason}")
    writes = plan_.of(Action.CREATE, Action.UPDATE, Action.RENAME)
    folders = [c for c in writes if c.kind == "folder"]
    for level in _levels(folders):
        run(level, write)
    run([c for c in writes if c.kind != "folder"], write)

    deletes = plan_.of(Action.DELETE)
    if not prune:
        result.skipped_deletes = len(deletes)
    else:
        run([c for c in deletes if c.kind != "folder"], prune_job)
        folder_deletes = [c for c in deletes if c.kind == "folder"]
        for level in _levels(folder_deletes, reverse=True):
            run(level, prune_folder)


def _rename(client: Client, c: Change) -> None:
    """Move (folder plugin) and/or rename (core) the old item, then write its config under the new name."""
    assert c.xml is not None
    old_parent, _, old_short = c.source.rpartition("/")
    new_parent, _, new_short = c.name.rpartition("/")
    current = c.source
    if old_parent != new_parent:
        client.move(current, new_parent)
        current = f"{new_parent}/{old_short}" if new_parent else old_short
    if old_short != new_short:
        client.rename(current, new_short)
    client.update(c.name, c.xml)


def _delete_folder(client: Client, change: Change, owner: str) -> bool:
    """Delete a folder of ours only if all inside is ours and idle (Jenkins deletes recursively)."""
    inside = client.tree(SUBTREE_DEPTH, change.name)
    left = [r for r in inside if r.status(owner) != "ours"]
    if left:
        names = ", ".join(r.name for r in left[:5])
        raise OperationError(f"{change.name}: not deleted: it still holds items that are not this owner's ({names})")
    if any(r.building for r in inside):
        return False
    client.delete(change.name)
    return True
