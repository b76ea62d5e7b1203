"""``ca-repo promote NAME VERSION --from dev --to release``: copy the tested revision, then prove it by SHA-256.

``aws codeartifact copy-package-versions`` copies whatever the version holds now, failed uploads
included, and checks nothing (aws-cli#8778). Here the copy is pinned with ``versionRevisions`` to the
revision that was tested (``--revision``, or the ca-publish report's files and revision), refused
(exit 3) when the source changed or is not Published, and followed by a comparison of the target's
files with the source's by SHA-256: any difference is exit 1 naming the file. A lost answer (5xx after
the copy landed, retried by botocore into ALREADY_EXISTS) is settled by that same comparison, so a
half-copied version is never reported as promoted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from .. import files
from ..codeartifact import REPOSITORY_RE, Asset, CodeArtifact, VersionInfo
from ..dists import normalize
from ..errors import CAError, ConfigError, OperationError, PreconditionError
from ..settings import Settings
from . import facade

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pin:
    """What was tested: a revision, and/or the files with their SHA-256 (from a ca-publish report)."""

    revision: str | None = None
    files: dict[str, str] | None = None  # file name -> sha256


def read_pin(settings: Settings, name: str, version: str) -> Pin:
    """``--revision`` and/or ``--from-report``; the report must be about this package and version."""
    if not settings.from_report:
        return Pin(settings.revision)
    path = settings.from_report
    try:
        data = json.loads(files.read_text(path, f"--from-report {path}"))
    except ValueError as exc:
        raise ConfigError(f"--from-report {path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ConfigError(f"--from-report {path}: not a ca-publish report (no files list)")
    if normalize(str(data.get("name") or "")) != normalize(name) or str(data.get("version")) != version:
        raise ConfigError(
            f"--from-report {path}: reports {data.get('name')} {data.get('version')}, not {name} {version}"
        )
    try:
        tested = {str(f["filename"]): str(f["sha256"]) for f in data["files"]}
    except (KeyError, TypeError):
        raise ConfigError(f"--from-report {path}: each file needs filename and sha256") from None
    revision = data.get("revision")
    if settings.revision and revision and settings.revision != revision:
        raise ConfigError(f"--revision {settings.revision} and the report's revision {revision} differ")
    return Pin(settings.revision or (str(revision) if revision else None), tested or None)


def differences(want: dict[str, Asset], have: dict[str, Asset]) -> list[str]:
    """One line per file that is missing, extra, or has another SHA-256 in ``have``."""
    lines = [f"{n}: missing" for n in sorted(set(want) - set(have))]
    lines += [f"{n}: not in the source" for n in sorted(set(have) - set(want))]
    lines += [
        f"{n}: sha256 {have[n].sha256[:12]}… instead of {want[n].sha256[:12]}…"
        for n in sorted(set(want) & set(have))
        if want[n].sha256 != have[n].sha256
    ]
    return lines


def _check_source(ca: CodeArtifact, name: str, version: str, source: str, pin: Pin) -> tuple[str, dict[str, Asset]]:
    """The source's revision and files, refused (exit 3) unless Published and what was tested."""
    found = ca.describe(name, version, source)
    listed = ca.assets(name, version, source) if found else None
    if found is None or listed is None:
        raise PreconditionError(f"{name} {version} is not in {source}", hint="publish it there first (ca-publish)")
    if found.status != "Published":
        raise PreconditionError(f"{name} {version} is {found.status} in {source}: only a Published version is promoted")
    revision, assets = found.revision, listed[1]
    if pin.revision and pin.revision != revision:
        raise PreconditionError(
            f"{name} {version} in {source} is at revision {revision}, not the tested {pin.revision}",
            hint="its files changed after the test: test this revision, or publish a new version",
        )
    if pin.files is not None:
        have = {n: a.sha256 for n, a in assets.items()}
        if have != pin.files:
            wanted = {n: Asset(n, 0, h) for n, h in pin.files.items()}
            raise PreconditionError(
                f"{name} {version} in {source} is not what the report lists: " + "; ".join(differences(wanted, assets)),
                hint="promote the files that were tested: publish again, or take the report of this upload",
            )
    return revision, assets


def _copy(ca: CodeArtifact, name: str, version: str, source: str, target: str, revision: str) -> str:
    """CopyPackageVersions pinned to ``revision``: ``copied``, or ``exists`` when the target has it already."""
    try:
        resp = ca.call(
            "CopyPackageVersions",
            sourceRepository=source,
            destinationRepository=target,
            package=name,
            versionRevisions={version: revision},
            allowOverwrite=False,
        )
    except OperationError as exc:  # retries exhausted: the copy may have landed; the comparison decides
        log.warning("WARNING: %s; checking %s for what landed", exc.message, target)
        if ca.assets(name, version, target) is None:
            raise OperationError(f"{name} {version} was not copied to {target}: {exc.message}", hint=exc.hint) from exc
        return "unknown"
    assert resp is not None
    if version in resp.get("successfulVersions", {}):
        return "copied"
    failure = resp.get("failedVersions", {}).get(version, {})
    code, message = failure.get("errorCode", "?"), failure.get("errorMessage", "")
    if code == "ALREADY_EXISTS":  # an earlier attempt of this call landed (botocore retried a lost answer)
        return "exists"
    if code in ("MISMATCHED_REVISION", "MISMATCHED_STATUS", "NOT_FOUND"):
        raise PreconditionError(f"{name} {version}: CodeArtifact refused the copy: {code}: {message}")
    raise OperationError(f"{name} {version}: CodeArtifact did not copy it: {code}: {message}")


def promote(settings: Settings, name: str, version: str, record: dict[str, Any], client: Any = None) -> int:
    """Promote ``name==version``; ``record`` becomes the report. Returns the exit code."""
    source = settings.source_repository or settings.repository
    target = settings.target_repository
    if not target:
        raise ConfigError("missing --to", hint="name the repository to promote to (--to release, CA_TO)")
    if source == target:
        raise ConfigError(f"--from and --to are both {target}")
    if not REPOSITORY_RE.fullmatch(target):
        raise ConfigError(f"--to {target!r}: not a valid CodeArtifact repository name")
    pin = read_pin(settings, name, version)
    ca = facade(settings, source, client)
    source = ca.repository
    record.update(name=name, version=version, source=source, target=target, outcome="", dry_run=settings.dry_run)
    revision, want = _check_source(ca, name, version, source, pin)
    record.update(revision=revision, files=[{"filename": a.name, "sha256": a.sha256} for a in want.values()])
    there = ca.assets(name, version, target)
    if there is not None:
        status = (ca.describe(name, version, target) or VersionInfo(version, "Published", "")).status
        if status != "Published":
            raise PreconditionError(
                f"{name} {version} is already in {target}, {status}",
                hint="restore it there (update-package-versions-status --target-status Published) or leave it",
            )
        return _settle(name, version, target, want, there[1], record, already=True)
    if settings.dry_run:
        log.info(
            "would copy %s %s (revision %s, %d files) from %s to %s", name, version, revision, len(want), source, target
        )
        record["outcome"] = "would promote"
        return 0
    record["copy"] = _copy(ca, name, version, source, target, revision)
    landed = ca.assets(name, version, target)
    if landed is None:
        raise OperationError(f"{name} {version} is not in {target} after the copy", hint="run promote again")
    return _settle(name, version, target, want, landed[1], record, already=False)


def _settle(
    name: str,
    version: str,
    target: str,
    want: dict[str, Asset],
    have: dict[str, Asset],
    record: dict[str, Any],
    already: bool,
) -> int:
    diff = differences(want, have)
    record["differences"] = diff
    if diff:
        record["outcome"] = "different"
        raise CAError(
            f"{name} {version} in {target} differs from the source: " + "; ".join(diff),
            hint="the target holds other files under this version; it is not promoted (remove it there, then rerun)",
        )
    record["outcome"] = "already there" if already else "promoted"
    log.info(
        "%s %s %s in %s: %d files, sha256 identical to the source",
        name,
        version,
        "already there" if already else "promoted",
        target,
        len(want),
    )
    return 0
