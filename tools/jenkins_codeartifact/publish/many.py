"""``ca-publish DIR [DIR...]``: many projects of one repository (a monorepo), in dependency order.

Every project is read, and every version asked of the index, before the first build: a directory that
is not a project, a project given twice or a dependency cycle is exit 2, and an unbumped version
(without --skip-existing) is exit 3, with nothing built or uploaded. Then each project runs the one
project flow (:func:`flow.publish`), dependencies first; a failure skips the projects that depend on it
and lets the others go on; the exit code is the worst of them.
"""

from __future__ import annotations

import glob
import graphlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from .. import signals
from ..dists import normalize
from ..errors import EXIT_FAILED, EXIT_OK, CAError, ConfigError, PreconditionError
from ..index import Index, check_settings, resolve_index
from ..settings import Settings
from . import build as package
from . import buildenv, buildindex, flow

log = logging.getLogger(__name__)
GLOB_CHARS = frozenset("*?[")


@dataclass
class Project:
    """One directory to publish: its name, version (None: the build says) and in-set dependencies."""

    path: Path
    name: str
    version: str | None
    requires: set[str] = field(default_factory=set)  # normalised names of every requirement


def expand(args: Sequence[str]) -> tuple[list[Path], bool]:
    """The directories named, globs expanded (sorted, directories only); True when more than one DIR or a
    glob was given, so a job's report keeps one shape whatever its glob matches."""
    dirs: list[Path] = []
    many = len(args) > 1
    for arg in args:
        if GLOB_CHARS & set(arg) and not Path(arg).exists():
            many = True
            matched = sorted(Path(m) for m in glob.glob(arg) if Path(m).is_dir())
            if not matched:
                raise ConfigError(f"{arg}: the pattern matches no directory", hint="name project directories")
            dirs.extend(matched)
        else:
            dirs.append(Path(arg))
    return dirs, many


def _names(requirements: Sequence[object], where: Path) -> set[str]:
    """The normalised names of the run-time requirements (an extra's are left out: no install needs them)."""
    names: set[str] = set()
    for text in requirements:
        try:
            req = Requirement(str(text))
        except InvalidRequirement as exc:
            raise ConfigError(f"{where}: dependency {text!r}: {exc}") from None
        if req.marker is None or "extra" not in str(req.marker):
            names.add(normalize(req.name))
    return names


def read(path: Path) -> Project | None:
    """The project's static name, version and dependencies (PEP 621: what the build writes in its metadata),
    or None when they are left to the backend (no ``[project]``, or dynamic dependencies)."""
    package.read_build_system(path)  # not a project, broken pyproject: exit 2 here
    data = package.project_table(path)
    if data is None or not isinstance(data.get("name"), str):
        return None
    dynamic = data.get("dynamic", [])
    if "dependencies" in dynamic:
        return None
    deps = data.get("dependencies", [])
    if not isinstance(deps, list):
        raise ConfigError(f"{path / 'pyproject.toml'}: project.dependencies must be a list of strings")
    static = package.static_metadata(path)
    return Project(path, data["name"], static.version if static else None, _names(deps, path / "pyproject.toml"))


def from_backend(settings: Settings, path: Path, index: Index | None) -> Project:
    """Name, version and dependencies from the backend's prepare_metadata_for_build_wheel, as the build gets them."""
    system = package.read_build_system(path)
    repository = index.pip_index_url if index is not None and not settings.repository_url else None
    chosen = buildindex.resolve(settings.build_index, repository, buildindex.pip_options())
    envs = buildenv.EnvSource(system.requires, chosen, settings.fresh_build_env)
    meta = package.wheel_metadata(envs, path)
    return Project(path, meta["Name"], meta["Version"], _names(meta.get_all("Requires-Dist") or [], path))


def order(projects: list[Project]) -> list[Project]:
    """Dependencies first; the same project twice or a cycle is exit 2."""
    by_name: dict[str, Project] = {}
    for p in projects:
        key = normalize(p.name)
        if key in by_name:
            raise ConfigError(f"{p.path}: project {p.name} is also {by_name[key].path}", hint="name each project once")
        by_name[key] = p
    graph = {key: {d for d in p.requires if d in by_name and d != key} for key, p in by_name.items()}
    try:
        keys = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(by_name[k].name for k in exc.args[1])
        raise ConfigError(
            f"dependency cycle: {cycle}", hint="projects that depend on each other cannot be ordered"
        ) from None
    return [by_name[k] for k in keys]


def _check_versions(settings: Settings, index: Index, projects: list[Project]) -> None:
    """Every version asked before the first build: exit 3 naming each unbumped one (without --skip-existing)."""
    published = [p for p in projects if p.version and index.version_files(p.name, p.version) is not None]
    for p in published:
        log.info(
            "%s %s is already in %s%s",
            p.name,
            p.version,
            index.description,
            " (--skip-existing: it passes)" if settings.skip_existing else "",
        )
    if published and not settings.skip_existing:
        names = ", ".join(f"{p.name} {p.version}" for p in published)
        raise PreconditionError(
            f"already published in {index.description}: {names}; nothing was built or uploaded",
            hint="raise those versions, or pass --skip-existing to let unbumped projects pass",
        )


def plan(
    settings: Settings, dirs: list[Path], connect: Callable[[], Index | None]
) -> tuple[list[Project], Index | None]:
    """Read every project (the backend's metadata when pyproject leaves name, version or dependencies to it),
    refuse bad input (exit 2) and unbumped versions (exit 3), and order them: all before the first build.

    The index is asked (``connect``) only once every directory proved to be a project.
    """
    seen: dict[Path, Path] = {}
    for d in dirs:
        resolved = d.resolve()
        if resolved in seen:
            raise ConfigError(f"{d}: the same project as {seen[resolved]}", hint="name each project once")
        seen[resolved] = d
    static = [(d, read(d)) for d in dirs]
    order([p for _, p in static if p is not None])  # a duplicate name or a cycle among static ones: no token asked
    index = connect()
    projects = [p if p is not None and p.version else from_backend(settings, d, index) for d, p in static]
    ordered = order(projects)
    if index is not None:
        _check_versions(settings, index, ordered)
    return ordered, index


def _one_report(
    result: flow.PublishResult, project: Project, code: int, error: dict[str, Any] | None, status: str
) -> dict[str, Any]:
    """Today's single-project report (its tool, status, exit_code and error too), with the directory."""
    report: dict[str, Any] = {"tool": "ca-publish", "status": status, "exit_code": code, "project": str(project.path)}
    report.update(result.as_report())
    report["name"] = report["name"] or project.name
    report["version"] = report["version"] or project.version or ""
    if error:
        report["error"] = error
    return report


def _run_one(settings: Settings, project: Project, index: Index | None, reports: list[dict[str, Any]]) -> bool:
    """Publish one project as ``ca-publish DIR`` would; its report goes into ``reports``. False if it failed."""
    result = flow.PublishResult()
    try:
        flow.publish(settings, project.path, _shared(index), result)
    except CAError as exc:
        log.error("ERROR: %s: %s", project.name, exc.message)
        if exc.hint:
            log.error("TIP: %s", exc.hint)
        error = {"message": exc.message, "exit_code": exc.exit_code, **({"hint": exc.hint} if exc.hint else {})}
        reports.append(_one_report(result, project, exc.exit_code, error, "failed"))
        return False
    except (signals.Terminated, KeyboardInterrupt) as exc:  # the report still says what this project did
        code = signals.EXIT_SIGINT if isinstance(exc, KeyboardInterrupt) else signals.EXIT_SIGTERM
        reports.append(_one_report(result, project, code, {"message": "aborted", "exit_code": code}, "aborted"))
        raise
    reports.append(_one_report(result, project, EXIT_OK, None, "ok"))
    return True


def _shared(index: Index | None) -> Callable[[Settings], Index] | None:
    """The one index (and token) every project's run uses."""
    if index is None:
        return None
    found = index

    def factory(_: Settings) -> Index:
        return found

    return factory


def publish_many(
    settings: Settings,
    dirs: list[Path],
    record: dict[str, Any],
    index_factory: Callable[[Settings], Index] | None = None,
) -> int:
    """Publish every project in dependency order; ``record["projects"]`` fills in as they go. Returns the
    worst exit code; bad input and unbumped versions raise before anything is built."""
    wants_index = not settings.dry_run or bool(settings.repository_url or settings.domain or settings.repository)
    if wants_index:
        check_settings(settings)
    projects, index = plan(settings, dirs, lambda: (index_factory or resolve_index)(settings) if wants_index else None)
    log.info("publishing %d projects in dependency order: %s", len(projects), ", ".join(p.name for p in projects))
    reports: list[dict[str, Any]] = record.setdefault("projects", [])
    failed: dict[str, str] = {}  # normalised name -> the failed project it stands for (itself or a dependency)
    for number, project in enumerate(projects, 1):
        key = normalize(project.name)
        cause = next((failed[d] for d in sorted(project.requires) if d in failed), None)
        if cause is not None:
            failed[key] = cause
            message = f"{project.name} not published: it depends on {cause}, which failed"
            log.error("ERROR: %s", message)
            error = {"message": message, "exit_code": EXIT_FAILED}
            reports.append(_one_report(flow.PublishResult(), project, EXIT_FAILED, error, "skipped"))
            continue
        log.info("project %d/%d: %s (%s)", number, len(projects), project.name, project.path)
        if not _run_one(settings, project, index, reports):
            failed[key] = project.name
    worst = max((r["exit_code"] for r in reports), default=EXIT_OK)
    done = [r["name"] for r in reports if r["status"] == "ok"]
    log.info(
        "%d of %d projects published or already there%s",
        len(done),
        len(reports),
        f"; not published: {', '.join(r['name'] for r in reports if r['status'] != 'ok')}" if worst else "",
    )
    return int(worst)
