"""The ``ca-publish`` flow: credentials, version pre-check, build, check, upload, report.

The order is chosen so a run fails before it writes anything: settings and pyproject first; then the
index (token, endpoint) and the version check, before the build when the version is static; the build
goes into a temporary directory; only then dist/ and the upload. One step after the other, in the main
thread: the overlap of the build with the index's answers saved tenths of a second and cost threads.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codeartifact import CodeArtifact
from ..console import step
from ..dists import Dist, parse_dist
from ..errors import OperationError, PreconditionError
from ..index import Index, check_settings, resolve_index
from ..settings import Settings
from . import build as package
from . import buildenv, buildindex

log = logging.getLogger(__name__)


@dataclass
class PublishResult:
    """What a run did, for the console summary and ``--report``; filled in as the run goes, so a failed
    or aborted run can still say what reached the index."""

    name: str = ""
    version: str = ""
    repository: str = ""
    status: str = ""  # the report's "outcome": uploaded | skipped | dry-run ("" if the run did not finish)
    files: list[Dist] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # sent by this run
    present: list[str] = field(default_factory=list)  # found on the index with the same sha256
    absent: bool = False  # the index said it has no file of this version (before this run uploaded any)
    pending: set[str] = field(default_factory=set)  # being uploaded: whether they landed is not known
    revision: str | None = None  # CodeArtifact's revision of this version after the run (ca-repo promote pins it)

    def release(self) -> str | None:
        """This version on the index: whole, partial, absent or unknown (None: no index involved)."""
        if not self.repository:
            return None
        if not self.files:
            return "absent" if self.absent else "unknown"
        if self.pending:
            return "unknown"
        there = sum(d.path.name in self.uploaded or d.path.name in self.present for d in self.files)
        return "whole" if there == len(self.files) else "partial" if there else "absent"

    def as_report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "repository_url": self.repository,
            "outcome": self.status,
            "skipped": self.status == "skipped",
            "release": self.release(),
            "revision": self.revision,
            "files": [
                {
                    "filename": d.path.name,
                    "sha256": d.sha256,
                    "size": d.size,
                    "uploaded": d.path.name in self.uploaded,
                    "on_index": None
                    if d.path.name in self.pending
                    else d.path.name in self.uploaded or d.path.name in self.present,
                }
                for d in self.files
            ],
        }


def _previous_build(
    index: Index, dists: list[Dist], dist_dir: Path, existing: set[str], name: str, version: str
) -> dict[str, Dist]:
    """The files a previous run left in ``dist_dir`` when they are the ones the index has (--skip-existing).

    An sdist is not byte-for-byte reproducible (tar times), so a rebuild cannot finish a partly uploaded
    release; the previous run's files can. Empty unless every file of this version on the index that
    ``dist_dir`` also holds matches it by sha256.
    """
    previous = {d.path.name: Dist.of(dist_dir / d.path.name) for d in dists if (dist_dir / d.path.name).is_file()}
    overlap = [n for n in previous if n in existing]
    if not overlap:
        return {}
    on_index = index.simple_files(name, version) or {}
    if any(on_index.get(n) != previous[n].sha256 for n in overlap):
        return {}
    log.info("%s holds the build the index already has: finishing the release with its files", dist_dir)
    return previous


def _on_index(
    index: Index, dists: list[Dist], existing: set[str], name: str, version: str
) -> tuple[list[str], list[str]]:
    """(same, differing): built files the index has with this build's bytes, and with other bytes.

    A whole release (every name there) with some files differing is left as it is: a compiled file
    never rebuilds byte for byte, and an ephemeral agent always rebuilds. Files missing while others
    differ would mix two builds in one release: exit 3.
    """
    from .upload import compare

    same: list[str] = []
    differing: list[str] = []
    for dist in dists:
        if dist.path.name in existing:
            found = compare(index, dist, name, version)
            if found is None:
                log.warning("%s is listed for %s %s but not on the simple API yet", dist.path.name, name, version)
            (differing if found is False else same).append(dist.path.name)
    missing = [d.path.name for d in dists if d.path.name not in existing]
    if differing and missing:
        raise PreconditionError(
            f"{name} {version} in {index.description} lacks {', '.join(missing)} and has "
            f"{', '.join(differing)} with other bytes: uploading would mix two builds in one release",
            hint=f"raise the version of {name} and publish again",
        )
    for filename in differing:
        log.warning("%s: the published file stays; this build differs (compiled files are not reproducible)", filename)
    return same, differing


def _wants_index(settings: Settings) -> bool:
    return bool(settings.repository_url or settings.domain or settings.repository)


def _build_index(settings: Settings, index: Index | None) -> buildindex.BuildIndex:
    """Where build requirements come from, said on one line (credentials masked)."""
    repository = index.pip_index_url if index is not None and not settings.repository_url else None
    chosen = buildindex.resolve(settings.build_index, repository, buildindex.pip_options())
    log.info("build requirements from %s", chosen.describe())
    return chosen


def publish(
    settings: Settings,
    project: Path,
    index_factory: Callable[[Settings], Index] | None = None,
    result: PublishResult | None = None,
) -> PublishResult:
    """Publish ``project``; raises PreconditionError (exit 3) when its version is already published.

    ``result`` (optional) is filled in as the run goes, for a report when the run fails or is aborted.

    The index is asked about this version before anything is built when the version is static (a
    published version costs no build), else right after the sdist, whose PKG-INFO names it; the build
    writes only into a temporary directory, so a refusal still leaves nothing behind (no dist/, no upload).
    """
    result = PublishResult() if result is None else result
    project = project.resolve()
    system = package.read_build_system(project)
    dist_dir = Path(settings.dist_dir) if settings.dist_dir else project / "dist"
    package.check_dist_dir(dist_dir)
    static = package.static_metadata(project)  # a bad version is refused before the index is asked
    index = _index(settings, index_factory, result) if not settings.dry_run or _wants_index(settings) else None
    existing: set[str] | None = None

    def check(meta: package.Metadata) -> None:
        nonlocal existing
        result.name, result.version = meta.name, meta.version
        log.info("project: %s %s", meta.name, meta.version)
        if index is not None:
            existing = _check_version(settings, index, meta, project, result)

    if static is not None:
        check(static)
    envs = buildenv.EnvSource(system.requires, _build_index(settings, index), settings.fresh_build_env)
    with tempfile.TemporaryDirectory(prefix="ca-publish-") as tmp:
        meta, dists = _build(envs, project, static, Path(tmp) / "dist", check)
        for dist in dists:
            parsed = parse_dist(dist.path.name)
            if parsed is None or str(parsed[1]) != meta.version:
                raise OperationError(f"built {dist.path.name} does not carry version {meta.version}")
        from . import upload

        with step("twine check"):
            upload.check([d.path for d in dists])
        keep = _previous_build(index, dists, dist_dir, existing, meta.name, meta.version) if index and existing else {}
        dists = package.replace_dists(dists, dist_dir, meta.name, keep=set(keep))
    for dist in dists:
        log.info("built %s (%d bytes, sha256 %s)", dist.path.name, dist.size, dist.sha256)
    result.files = dists
    return _upload(settings, index, existing, dists, meta.name, meta.version, result)


def _index(settings: Settings, index_factory: Callable[[Settings], Index] | None, result: PublishResult) -> Index:
    """The index with its token and endpoint (settings checked first: a bad one costs no request)."""
    check_settings(settings)
    with step("CodeArtifact token and endpoint" if not settings.repository_url else "index"):
        index = (index_factory or resolve_index)(settings)
    log.info("repository: %s (%s)", index.description, index.upload_url)
    result.repository = index.upload_url
    return index


def _build(
    envs: buildenv.EnvSource,
    project: Path,
    static: package.Metadata | None,
    outdir: Path,
    check: Callable[[package.Metadata], None],
) -> tuple[package.Metadata, list[Dist]]:
    """The sdist, then the wheel from it; with a dynamic version, ``check`` runs on the sdist's PKG-INFO
    before the wheel is built (a static one was checked before the build began)."""
    if static is not None:
        with step("build sdist and wheel"):
            return static, package.build_dists(envs, project, outdir)
    with step("build sdist"):
        sdist = package.build_sdist(envs, project, outdir)
    meta = package.sdist_metadata(sdist.path)
    check(meta)
    with step("build wheel"):
        return meta, [sdist, package.build_wheel(envs, project, sdist.path, outdir)]


def _check_version(
    settings: Settings, index: Index, meta: package.Metadata, project: Path, result: PublishResult
) -> set[str] | None:
    """The files the index has of this version; exit 3 if any, without --skip-existing."""
    existing = index.version_files(meta.name, meta.version)
    result.absent = existing is None
    if index.codeartifact is not None and existing is None:  # a new version: will CodeArtifact take it?
        check_origin(index.codeartifact, meta.name)
    if existing is not None and not settings.skip_existing:
        raise PreconditionError(
            f"{meta.name} {meta.version} is already published in {index.description}",
            hint=f"raise the version in {project / 'pyproject.toml'} to publish a new release, "
            "or pass --skip-existing to treat this as success",
        )
    return existing


def check_origin(ca: CodeArtifact, name: str) -> None:
    """``repo.origin.check`` (exit 3 when publishing will be refused, a WARNING when the name could be
    shadowed); a policy without its two read actions gets one WARNING, not a failed publish: the upload's
    409 still says a refusal, as before the check existed."""
    from ..repo import origin

    try:
        origin.check(ca, name)
    except OperationError as exc:
        if "failed: AccessDeniedException" not in exc.message:
            raise
        log.warning(
            "WARNING: origin controls not checked: %s (grant codeartifact:DescribePackage and "
            "codeartifact:GetAssociatedPackageGroup: infra/jenkins-iam.yml ProducerPolicy)",
            exc.message,
        )


def _upload(
    settings: Settings,
    index: Index | None,
    existing: set[str] | None,
    dists: list[Dist],
    name: str,
    version: str,
    result: PublishResult,
) -> PublishResult:
    """The last step: nothing on a dry run, only what the index lacks of an existing version, else all."""
    if settings.dry_run:
        result.status = "dry-run"
        log.info("dry run: nothing uploaded")
        return result
    assert index is not None
    if existing:
        same, differing = _on_index(index, dists, existing, name, version)
        result.present = same + differing
    todo = [d for d in dists if d.path.name not in result.present]
    if not todo:
        result.status = "skipped"
        _revision(index, name, version, result)
        log.info("%s %s is already in %s: nothing uploaded (--skip-existing)", name, version, index.description)
        return result
    if existing:
        log.info("version exists; uploading only the missing files: %s", ", ".join(d.path.name for d in todo))
    from . import upload

    with step(f"upload to {index.description}"):
        upload.upload(index, todo, name, version, uploaded=result.uploaded, pending=result.pending)
    result.status = "uploaded"
    _revision(index, name, version, result)
    log.info("published %s %s to %s", name, version, index.description)
    return result


def _revision(index: Index, name: str, version: str, result: PublishResult) -> None:
    """The version's revision as CodeArtifact has it now (DescribePackageVersion), for ``ca-repo promote
    --from-report``; None for another index."""
    if index.codeartifact is not None:
        found = index.codeartifact.describe(name, version)
        result.revision = found.revision if found is not None else None
        if result.revision:
            log.info("revision: %s", result.revision)
