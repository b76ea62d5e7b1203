"""The plan: what ``apply`` will do to each item, and why, decided from one tree query.

Every item on the server falls in one class, from the marker at the end of its description:

- ours: the marker's owner is this source's and its name is the item's own full name;
- foreign: another owner's (another repository or jobs directory): listed, never updated or deleted;
- unmanaged: no marker, or a marker naming another item (a copy made in the UI keeps the description
  of the job it was copied from), or an older ownerless marker that no spec names;
- ownerless (older jobsync markers): taken over by the first apply whose specs name the item.

Jenkins item names are case-insensitive (``app`` and ``App`` are one item), so every lookup here is
by case-folded name: a spec ``App`` never creates a second item next to ``app``, and a prune never
deletes ``app`` because the specs now say ``App``. An item is a folder when ``api/json`` exports
``jobs`` (folders, multibranch projects, organization folders), not by its class name.
"""

from __future__ import annotations

import difflib
import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PreconditionError
from . import configxml, xmlcompare
from .client import Remote, Status
from .model import Freestyle, Item, Pipeline, Specs, fold


class Action(enum.Enum):
    """The plan's groups, in the order ``jobsync diff`` prints them."""

    CREATE = "create"
    UPDATE = "update"
    RENAME = "rename"
    UNCHANGED = "unchanged"
    DELETE = "delete"
    FOREIGN = "foreign"
    UNMANAGED = "unmanaged"
    CONFLICT = "conflict"


SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.RENAME: ">",
    Action.UNCHANGED: "=",
    Action.DELETE: "-",
    Action.FOREIGN: "o",
    Action.UNMANAGED: "?",
    Action.CONFLICT: "!",
}
ALWAYS_COUNTED = (Action.CREATE, Action.UPDATE, Action.UNCHANGED, Action.DELETE)


@dataclass
class Change:
    """One planned step; ``xml`` is what will be sent, ``diff`` explains an update when it was fetched."""

    action: Action
    name: str
    kind: str
    item: Item | None = None
    reason: str = ""
    diff: str = ""
    replace: bool = False  # UPDATE: delete and create anew (--replace)
    owner: str | None = None
    source: str = ""  # RENAME: the item's current name on the server
    disable: bool = False  # DELETE under --prune-action disable
    enable: bool = False  # UPDATE that only enables a job disabled on the server
    adoptable: bool = False  # CONFLICT of an unmarked item: taken over if its config.xml is the spec's

    @functools.cached_property
    def xml(self) -> str | None:
        """Rendered on demand: a no-op sync needs only the descriptions, not 1000 serialised configs."""
        return configxml.render(self.item, self.owner) if self.item is not None else None

    @property
    def depth(self) -> int:
        return self.name.count("/")

    @property
    def verb(self) -> str:
        return "disable" if self.disable else self.action.value

    @property
    def title(self) -> str:
        return f"{self.source} -> {self.name}" if self.source else self.name

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "kind": self.kind, "action": self.verb, "reason": self.reason}
        if self.source:
            out["from"] = self.source
        return out


@dataclass
class Plan:
    changes: list[Change]
    owner: str = ""
    kept: int = 0  # items of this owner on the server that the specs still name (renames included)

    def of(self, *actions: Action) -> list[Change]:
        return [c for c in self.changes if c.action in actions]

    def counts(self) -> dict[str, int]:
        return {a.value: len(self.of(a)) for a in Action}

    def groups(self) -> dict[str, list[dict[str, Any]]]:
        """The plan as ``--report`` carries it: every group, each entry with its reason."""
        return {a.value: [c.as_dict() for c in sorted(self.of(a), key=lambda c: c.name)] for a in Action}

    def render(self, prune: bool = False) -> str:
        """The human-readable plan printed by ``jobsync diff`` (stdout), grouped, one reason per line."""
        lines = []
        for action in Action:
            for c in sorted(self.of(action), key=lambda c: c.name):
                note = f" ({c.reason})" if c.reason else ""
                if c.action is Action.DELETE and not prune:
                    note += " (only with --prune)"
                lines.append(f"{SYMBOLS[action]} {c.verb:9} {c.kind:6} {c.title}{note}")
                if c.diff:
                    lines.append(c.diff.rstrip("\n"))
        n = self.counts()
        lines.append(", ".join(f"{v} {a.value}" for a in Action if (v := n[a.value]) or a in ALWAYS_COUNTED))
        return "\n".join(lines) + "\n"

    def check_prune(self, max_delete: int, allow_all: bool) -> None:
        """Refuse (exit 3, before any write) a prune that looks like an empty or mistyped jobs directory."""
        deletes = self.of(Action.DELETE)
        n = len(deletes)
        verb = "disable" if any(c.disable for c in deletes) else "delete"
        if n > max_delete:
            raise PreconditionError(
                f"--prune would {verb} {n} items, more than --max-delete {max_delete}: nothing done",
                hint=f"check --jobs-dir and `jobsync diff --prune`; if the plan is right, rerun with --max-delete {n}",
            )
        if n and not self.kept and not allow_all:
            raise PreconditionError(
                f"--prune would {verb} every item of owner {self.owner} ({n}) and keep none: nothing done",
                hint=f"an empty or mistyped jobs directory looks like this; if meant, rerun with --max-delete {n}",
            )


def _kind(item: Item) -> str:
    return "folder" if configxml.is_folder(item) else "job"


def _type(cls: str) -> str:
    return configxml.TYPE_NAMES.get(cls, cls or "unknown type")


def diff(name: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            xmlcompare.canonical(old).splitlines(keepends=True),
            xmlcompare.canonical(new).splitlines(keepends=True),
            fromfile=f"{name} (server)",
            tofile=f"{name} (specs)",
        )
    )


@dataclass
class _Planner:
    specs: Specs
    remotes: list[Remote]
    owner: str
    adopt: bool
    replace: bool
    prune_action: str
    by_key: dict[str, Remote] = field(init=False)
    wanted: set[str] = field(init=False)
    renamed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.by_key = {fold(r.name): r for r in self.remotes}
        self.wanted = {fold(i.name) for i in self.specs.items}

    def change(self, action: Action, item: Item, reason: str, **kw: Any) -> Change:
        return Change(action, item.name, _kind(item), item, reason, owner=self.owner, **kw)

    def item(self, item: Item) -> Change:
        have = self.by_key.get(fold(item.name))
        if have is None:
            return self.rename(item) or self.change(Action.CREATE, item, "not on the server")
        if have.name != item.name:
            return self.change(
                Action.CONFLICT,
                item,
                f"collides with {have.name!r} on the server (Jenkins item names are case-insensitive): "
                "rename the spec or the item",
            )
        status = have.status(self.owner)
        m = have.marker
        if status == "foreign" and not self.adopt:
            assert m is not None
            if configxml.is_folder(item) and have.is_folder:
                return self.change(Action.FOREIGN, item, f"owned by {m.owner}: used as a parent folder, not updated")
            return self.change(
                Action.CONFLICT, item, f"owned by {m.owner} (another jobs directory); pass --adopt to take it over"
            )
        if status in ("unmanaged", "copy") and not self.adopt:
            what = f"a copy of {m.name} made on the server" if m is not None and status == "copy" else "exists"
            same_type = have.cls == configxml.item_class(item) and have.is_folder == configxml.is_container(item)
            return self.change(
                Action.CONFLICT,
                item,
                f"{what} on the server and is not managed by jobsync; rename it, delete it, or pass --adopt",
                adoptable=status == "unmanaged" and same_type,
            )
        expected = configxml.item_class(item)
        if have.cls != expected or have.is_folder != configxml.is_container(item):
            change = f"is a {_type(have.cls)} on the server but a {_type(expected)} in the specs"
            if have.is_folder:
                reason = f"{change}: not replaced, that would delete everything in it; delete or rename it by hand"
                return self.change(Action.CONFLICT, item, reason)
            if not self.replace:
                reason = f"{change}: pass --replace to delete it (build history included) and create it anew"
                return self.change(Action.CONFLICT, item, reason)
            return self.change(Action.UPDATE, item, f"{change}: delete and create anew (--replace)", replace=True)
        if not configxml.same_description(have.description, configxml.described(item, self.owner)):
            reasons = {
                "unmanaged": "not managed yet: adopting",
                "copy": "a copy made on the server: adopting",
                "ownerless": "marker of an older jobsync without an owner: taking it over",
                "foreign": f"owned by {m.owner if m else '?'}: taking it over (--adopt)",
            }
            same = m is not None and m.hash == configxml.content_hash(item)
            reason = reasons.get(status) or ("description edited on the server" if same else "specs changed")
            return self.change(Action.UPDATE, item, reason)
        if have.disabled and isinstance(item, Freestyle | Pipeline) and not item.disabled:
            return self.change(Action.UPDATE, item, "disabled on the server, enabled in the specs", enable=True)
        return self.change(Action.UNCHANGED, item, "current")

    def rename(self, item: Item) -> Change | None:
        """A job whose ``previous_names`` names an item of ours: renamed (or moved), keeping its history."""
        for old in getattr(item, "previous_names", ()):
            have = self.by_key.get(fold(old))
            if have is None or fold(have.name) in self.wanted or have.name in self.renamed:
                continue
            if have.status(self.owner) != "ours":
                continue
            if have.cls != configxml.item_class(item):
                return self.change(
                    Action.CONFLICT, item, f"previous name {have.name} is a {_type(have.cls)}: not renamed"
                )
            if have.building:
                return self.change(
                    Action.CONFLICT, item, f"{have.name} has a build running; Jenkins refuses to rename it now"
                )
            self.renamed.add(have.name)
            moved = have.name.rpartition("/")[0] != item.name.rpartition("/")[0]
            how = "moved and renamed" if moved else "renamed"
            return self.change(
                Action.RENAME, item, f"{how} on the server (previous_names): history kept", source=have.name
            )
        return None

    def leftover(self, r: Remote) -> Change | None:
        """An item no spec names: deleted (ours, with --prune), or listed as foreign or unmanaged."""
        if r.name in self.renamed or fold(r.name) in self.wanted:
            return None
        kind = "folder" if r.is_folder else "job"
        status = r.status(self.owner)
        m = r.marker
        if status == "ours":
            if self.prune_action != "disable":
                return Change(Action.DELETE, r.name, kind, reason="this owner's, no longer in the specs")
            if r.is_folder:
                return Change(
                    Action.UNCHANGED, r.name, kind, reason="not in the specs; --prune-action disable keeps folders"
                )
            if r.disabled:
                return Change(Action.UNCHANGED, r.name, kind, reason="no longer in the specs; disabled")
            return Change(Action.DELETE, r.name, kind, reason="this owner's, no longer in the specs", disable=True)
        reasons: dict[Status, Callable[[], str]] = {
            "foreign": lambda: f"owned by {m.owner if m else '?'}",
            "copy": lambda: f"a copy of {m.name if m else '?'} made on the server (its marker names that item)",
            "ownerless": lambda: "marker of an older jobsync without an owner, and no spec names it: left alone",
            "unmanaged": lambda: "no jobsync marker",
        }
        action = Action.FOREIGN if status == "foreign" else Action.UNMANAGED
        return Change(action, r.name, kind, reason=reasons[status]())


def plan(
    specs: Specs,
    remotes: list[Remote],
    owner: str,
    adopt: bool = False,
    replace: bool = False,
    prune_action: str = "delete",
) -> Plan:
    """Compare specs with the server's items (the tree query's answer); no request of its own."""
    p = _Planner(specs, remotes, owner, adopt, replace, prune_action)
    changes = [p.item(i) for i in specs.items]
    ours = {r.name for r in remotes if r.status(owner) == "ours"}
    kept = sum(1 for c in changes if (c.source or c.name) in ours)
    changes += [c for r in remotes if (c := p.leftover(r)) is not None]
    return Plan(sorted(changes, key=lambda c: (c.depth, c.name)), owner, kept)
