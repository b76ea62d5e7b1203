"""The ``ca-publish`` flow: credentials, version pre-check, build, check, upload, report.

The order is chosen so a run fails before it writes anything: settings and pyproject first; then the
build (into a temporary directory) alongside the index (token, endpoint) and the version check; only
then dist/ and the upload.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..console import step
from ..dists import Dist, parse_dist
from ..errors import OperationError, PreconditionError
from ..index import Index, check_settings, resolve_index
from ..settings import Settings
from . import build as package

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class PublishResult:
    """What a run did, for the console summary and ``--report``."""

    name: str
    version: str
    repository: str
    status: str  # uploaded | skipped | dry-run
    files: list[Dist] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)

    def as_report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "repository_url": self.repository,
            "outcome": self.status,
            "skipped": self.status == "skipped",
            "files": [
                {"filename": d.path.name, "sha256": d.sha256, "size": d.size, "uploaded": d.path.name in self.uploaded}
                for d in self.files
            ],
        }


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    start = time.monotonic()
    return fn(*args), time.monotonic() - start


def _wants_index(settings: Settings) -> bool:
    return bool(settings.repository_url or settings.domain or settings.repository)


def publish(
    settings: Settings, project: Path, index_factory: Callable[[Settings], Index] | None = None
) -> PublishResult:
    """Publish ``project``; raises PreconditionError (exit 3) when its version is already published.

    The build runs in the background while the index is asked for a token and about this version: both
    take about a second, and the build writes only into a temporary directory, so a refusal still leaves
    nothing behind (no dist/, no upload).
    """
    project = project.resolve()
    system = package.read_build_system(project)
    wants_index = not settings.dry_run or _wants_index(settings)
    if wants_index:
        check_settings(settings)
    index: Index | None = None
    existing: set[str] | None = None
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ca-publish-")))
        with step("build environment"):
            env = stack.enter_context(package.BuildEnv.prepared(system, fresh=settings.fresh_build_env))
            meta = package.read_metadata(env, project, tmp)
        log.info("project: %s %s", meta.name, meta.version)
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="build"))  # exits before tmp goes
        log.info("build sdist and wheel (in the background) ...")
        building = pool.submit(_timed, package.build_dists, env, project, tmp / "dist")
        try:
            # twine (here) and boto3 (in resolve_index) take a third of a second to import: they overlap the build
            from . import upload

            if wants_index:
                with step("CodeArtifact token and endpoint" if not settings.repository_url else "index"):
                    index = (index_factory or resolve_index)(settings)
                log.info("repository: %s (%s)", index.description, index.upload_url)
                existing = index.version_files(meta.name, meta.version)
                if existing is not None and not settings.skip_existing:
                    raise PreconditionError(
                        f"{meta.name} {meta.version} is already published in {index.description}",
                        hint=f"raise the version in {project / 'pyproject.toml'} to publish a new release, "
                        "or pass --skip-existing to treat this as success",
                    )
            dists, seconds = building.result()
        except BaseException:
            assert env.runner is not None
            env.runner.abort()  # refused, failed or terminated: stop the build instead of waiting for it
            raise
        log.info("build sdist and wheel: done in %.1fs", seconds)
        for dist in dists:
            parsed = parse_dist(dist.path.name)
            if parsed is None or str(parsed[1]) != meta.version:
                raise OperationError(f"built {dist.path.name} does not carry version {meta.version}")
        with step("twine check"):
            upload.check([d.path for d in dists])
        dist_dir = Path(settings.dist_dir) if settings.dist_dir else project / "dist"
        dists = package.replace_dists(dists, dist_dir, meta.name)
    for dist in dists:
        log.info("built %s (%d bytes, sha256 %s)", dist.path.name, dist.size, dist.sha256)
    result = PublishResult(meta.name, meta.version, index.upload_url if index else "", "dry-run", dists)
    if settings.dry_run:
        log.info("dry run: nothing uploaded")
        return result
    assert index is not None
    todo = [d.path for d in dists if existing is None or d.path.name not in existing]
    if not todo:
        result.status = "skipped"
        log.info(
            "%s %s is already in %s: nothing uploaded (--skip-existing)", meta.name, meta.version, index.description
        )
        return result
    if existing:
        log.info("version exists; uploading only the missing files: %s", ", ".join(p.name for p in todo))
    with step(f"upload to {index.description}"):
        result.uploaded = [p.name for p in upload.upload(index, todo, verbose=log.isEnabledFor(logging.DEBUG))]
    result.status = "uploaded"
    log.info("published %s %s to %s", meta.name, meta.version, index.description)
    return result
