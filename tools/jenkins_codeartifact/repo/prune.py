"""``ca-repo prune NAME --keep N``: the retention policy CodeArtifact does not have, with a plan and a cap.

Never touched: the newest N versions (by publish time), versions younger than ``--older-than``, those
named by ``--protect`` or the ``--protect-file`` of live versions, and any version the repository's
upstream serves (its origin is not this repository: pruning it would only hide what the next install
fetches again, or break a pin). The plan is logged in full before anything changes; more than
``--max-changes`` changes is refused (exit 3), like ``jobsync --max-delete``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import files
from ..codeartifact import CodeArtifact, VersionInfo
from ..errors import ConfigError, OperationError, PreconditionError
from ..settings import Settings
from . import facade

log = logging.getLogger(__name__)
BATCH = 100  # versions per status call (the model's list maximum)
DAY = 86400.0
# action -> (operation, its extra arguments, the status it leaves, statuses it can act on)
ACTIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "unlist": ("UpdatePackageVersionsStatus", {"targetStatus": "Unlisted"}, "Unlisted"),
    "archive": ("UpdatePackageVersionsStatus", {"targetStatus": "Archived"}, "Archived"),
    "dispose": ("DisposePackageVersions", {}, "Disposed"),
    "delete": ("DeletePackageVersions", {}, "Deleted"),
}


@dataclass(frozen=True)
class Decision:
    version: str
    change: bool
    reason: str


def read_protected(settings: Settings) -> set[str]:
    """``--protect`` versions and the lines of ``--protect-file`` (blank lines and ``#`` comments skipped)."""
    protected = set(settings.protect)
    if settings.protect_file:
        text = files.read_text(settings.protect_file, f"--protect-file {settings.protect_file}")
        for line in text.splitlines():
            entry = line.split("#", 1)[0].strip()
            if entry:
                protected.add(entry)
    return protected


def plan(
    versions: list[VersionInfo],
    keep: int,
    cutoff: float | None,
    protected: set[str],
    action: str,
    served: dict[str, str] | None = None,
) -> list[Decision]:
    """What happens to each version, newest first; ``versions`` carry their publish time, ``served`` says
    which an upstream repository also has (version -> that repository)."""
    target, served = ACTIONS[action][2], served or {}
    own = [v for v in versions if v.origin_type == "INTERNAL"]
    ordered = sorted(own, key=lambda v: v.published or 0.0, reverse=True)
    newest = {v.version for v in ordered[:keep]}
    decisions: list[Decision] = []
    for v in ordered:
        if v.version in newest:
            decisions.append(Decision(v.version, False, f"newest {keep}"))
        elif v.version in protected:
            decisions.append(Decision(v.version, False, "protected"))
        elif v.version in served:
            decisions.append(Decision(v.version, False, f"served by the upstream {served[v.version]}"))
        elif v.status == target or v.status == "Deleted":
            decisions.append(Decision(v.version, False, f"already {v.status}"))
        elif v.published is None:  # gone between the list and its description, or the service did not say
            decisions.append(Decision(v.version, False, "publish time unknown"))
        elif cutoff is not None and v.published > cutoff:
            decisions.append(Decision(v.version, False, "too recent"))
        else:
            decisions.append(Decision(v.version, True, f"was {v.status}"))
    decisions += [Decision(v.version, False, "served by the upstream") for v in versions if v not in own]  # EXTERNAL
    return decisions


def _published(ca: CodeArtifact, name: str, listed: list[VersionInfo]) -> list[VersionInfo]:
    """ListPackageVersions has no publish time: DescribePackageVersion adds it to each own version."""
    out = []
    for v in listed:
        found = ca.describe(name, v.version) if v.origin_type == "INTERNAL" else None
        out.append(
            VersionInfo(
                v.version, v.status, v.revision, v.origin_type, v.origin_repository, found.published if found else None
            )
        )
    return out


def _in_upstreams(ca: CodeArtifact, name: str, candidates: list[str]) -> dict[str, str]:
    """Which candidates an upstream repository of this one also has: pruning them here changes nothing a
    client sees (the upstream serves them again), and a copy promoted from there is still live there."""
    if not candidates:
        return {}
    served: dict[str, str] = {}
    for upstream in ca.upstreams():
        for version in candidates:
            found = ca.describe(name, version, upstream) if version not in served else None
            if found is not None and found.status not in ("Deleted", "Disposed"):
                served[version] = upstream
    return served


def _apply(ca: CodeArtifact, name: str, action: str, versions: list[str]) -> dict[str, str]:
    """Run the action in batches; the versions that failed, with why."""
    operation, extra, _ = ACTIONS[action]
    failed: dict[str, str] = {}
    for start in range(0, len(versions), BATCH):
        batch = versions[start : start + BATCH]
        resp = ca.call(operation, repository=ca.repository, package=name, versions=batch, **extra)
        assert resp is not None
        for version, why in resp.get("failedVersions", {}).items():
            failed[version] = f"{why.get('errorCode')}: {why.get('errorMessage', '')}"
    return failed


def prune(
    settings: Settings, name: str, record: dict[str, Any], client: Any = None, clock: Callable[[], float] = time.time
) -> int:
    """Plan, log, cap, then act; ``record`` becomes the report. Returns the exit code."""
    if settings.keep < 0:
        raise ConfigError(f"--keep {settings.keep}: must be 0 or more (the newest N versions are never pruned)")
    if settings.older_than < 0:
        raise ConfigError(f"--older-than {settings.older_than:g}: must be a number of days >= 0")
    protected = read_protected(settings)
    action = settings.prune_versions_action
    ca = facade(settings, client=client)
    listed = ca.versions(name)
    if not listed:
        raise PreconditionError(f"{name}: no versions in {ca.domain}/{ca.repository}", hint="check the package name")
    cutoff = clock() - settings.older_than * DAY if settings.older_than else None
    versions = _published(ca, name, listed)
    first = plan(versions, settings.keep, cutoff, protected, action)
    served = _in_upstreams(ca, name, [d.version for d in first if d.change])
    decisions = plan(versions, settings.keep, cutoff, protected, action, served) if served else first
    changes = [d.version for d in decisions if d.change]
    record.update(
        name=name,
        repository=ca.repository,
        action=action,
        dry_run=settings.dry_run,
        plan=[{"version": d.version, "change": d.change, "reason": d.reason} for d in decisions],
    )
    log.info("prune plan for %s in %s (%d to %s):", name, ca.repository, len(changes), action)
    for d in decisions:
        log.info("  %-8s %s  (%s)", action if d.change else "keep", d.version, d.reason)
    if len(changes) > settings.max_changes:
        raise PreconditionError(
            f"prune would {action} {len(changes)} versions of {name}, more than --max-changes {settings.max_changes}",
            hint="check the plan above; raise --max-changes (CA_MAX_CHANGES) for this run if it is right",
        )
    if settings.dry_run or not changes:
        record["outcome"] = "dry-run" if settings.dry_run else "nothing to do"
        return 0
    failed = _apply(ca, name, action, changes)
    record.update(changed=[v for v in changes if v not in failed], failed=failed)
    if failed:
        record["outcome"] = "partial"
        raise OperationError(
            f"prune {name}: {len(failed)} of {len(changes)} versions not changed: "
            + "; ".join(f"{v}: {why}" for v, why in failed.items())
        )
    record["outcome"] = "pruned"
    log.info("%s: %d versions %s", name, len(changes), ACTIONS[action][2].lower())
    return 0
