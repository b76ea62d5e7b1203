"""Build sdist + wheel exactly as ``python -m build`` does, in environments from :mod:`.buildenv`.

Each hook runs in a fresh process in the project's directory with the env's bin/ first on PATH
(``build.ProjectBuilder.from_isolated_env``), ``backend-path`` honoured by pyproject_hooks; the
wheel is built from the unpacked sdist. What is cached, and why that is safe, is :mod:`.buildenv`'s.
"""

from __future__ import annotations

import contextlib
import email.message
import email.parser
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import build
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import files, redact
from ..dists import Dist, parse_dist
from ..errors import ConfigError, OperationError
from . import buildenv

log = logging.getLogger(__name__)

DEFAULT_REQUIRES = ["setuptools>=40.8.0"]  # PEP 517's default when build-system is absent
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
Distribution = Literal["sdist", "wheel"]


@dataclass(frozen=True)
class Metadata:
    name: str
    version: str


@dataclass(frozen=True)
class BuildSystem:
    requires: list[str]
    backend: str  # "module" or "module:object"


def _pyproject(project: Path) -> dict[str, Any]:
    """pyproject.toml's data; {} for a setup.py-only project; a broken one is a config error."""
    pyproject = project / "pyproject.toml"
    if not project.is_dir():
        raise ConfigError(f"{project}: project directory not found")
    if pyproject.is_dir():
        raise ConfigError(f"{pyproject}: is a directory, not a file")
    if not pyproject.is_file():
        if (project / "setup.py").is_file():
            return {}
        raise ConfigError(f"{pyproject}: not found", hint="ca-publish needs a pyproject.toml or a setup.py")
    try:
        return tomllib.loads(files.read_text(pyproject))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from None


def read_build_system(project: Path) -> BuildSystem:
    """``[build-system]`` of ``project``, with PEP 517's defaults (setuptools' legacy backend) when absent."""
    pyproject = project / "pyproject.toml"
    data = _pyproject(project)
    if not pyproject.is_file():
        log.warning(
            "%s has no pyproject.toml: building it with setuptools' legacy backend, as PyPA build does", project
        )
    table = data.get("build-system", {})
    requires = table.get("requires", DEFAULT_REQUIRES)
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ConfigError(f"{pyproject}: build-system.requires must be a list of strings")
    for req in requires:
        try:
            Requirement(req)
        except InvalidRequirement as exc:
            raise ConfigError(f"{pyproject}: build-system.requires: {req!r}: {exc}") from None
    backend = table.get("build-backend", DEFAULT_BACKEND)
    if not isinstance(backend, str):
        raise ConfigError(f"{pyproject}: build-system.build-backend must be a string")
    return BuildSystem(requires, backend)


def _builder(envs: buildenv.EnvSource, env: buildenv.BuildEnv, source: Path) -> build.ProjectBuilder:
    """Hooks as PyPA build runs them: a fresh process each, in ``source``, env's bin/ first on PATH."""
    return build.ProjectBuilder.from_isolated_env(env, source, runner=envs.children.hook)


@contextlib.contextmanager
def _ready(envs: buildenv.EnvSource, source: Path, distribution: Distribution) -> Iterator[build.ProjectBuilder]:
    """A builder whose backend's dynamic requirements are met, asked in the static env as PyPA build asks.

    Met there already: the build runs there (installing them would change nothing). Otherwise a fresh
    env gets them, so the shared one is never changed by one project's needs.
    """
    with envs.static() as env:
        builder = _builder(envs, env, source)
        extra = sorted(builder.get_requires_for_build(distribution))
        missing = env.unsatisfied(extra)
        if not missing:
            yield builder
            return
        if envs.fresh:  # a throwaway env: installed into it, as PyPA build does
            envs.install(env, extra)
            yield builder
            return
    log.debug("%s needs %s for its %s: a fresh build env", source.name, ", ".join(missing), distribution)
    with envs.throwaway(extra) as env:
        yield _builder(envs, env, source)


def _backend_error(project: Path, exc: Exception) -> OperationError:
    """The failing hook and the backend's last words (a SystemExit message, a setuptools 'error: ...')."""
    cause: BaseException | None = exc.exception if isinstance(exc, build.BuildBackendException) else exc
    said = _last_words(getattr(cause, "output", None) or "")
    said = f": {redact.scrub(said)}" if said else ""
    prefix = "Backend subprocess exited when trying to invoke "
    what = f"the build backend failed in {str(exc)[len(prefix) :]}" if str(exc).startswith(prefix) else str(exc)
    return OperationError(
        f"{project}: {what}{said}",
        hint="the backend's output is above; fix the project and run again",
    )


_ERROR_LINE = re.compile(r"^(error|ERROR|[A-Za-z_.]*(Error|Exception|Exit))\b:?")


def _last_words(output: str) -> str:
    """The backend's own error line: the last ``error: ...``/``SomeError: ...`` line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.match(line):
            return line
    return lines[-1] if lines else ""


def project_table(project: Path) -> dict[str, Any] | None:
    """pyproject.toml's ``[project]`` table, or None when there is none (the backend says everything)."""
    data = _pyproject(project).get("project")
    return data if isinstance(data, dict) else None


def static_metadata(project: Path) -> Metadata | None:
    """Name and version from ``[project]`` when both are static: PEP 621 makes them authoritative."""
    data = _pyproject(project).get("project", {})
    name, version, dynamic = data.get("name"), data.get("version"), data.get("dynamic", [])
    if isinstance(name, str) and isinstance(version, str) and "version" not in dynamic:
        return Metadata(name=name, version=_normalized(version, project / "pyproject.toml"))
    return None


def _normalized(version: str, where: Path) -> str:
    """PEP 440 normal form (``1.0.0-alpha`` is stored and built as ``1.0.0a0``)."""
    try:
        return str(Version(version))
    except InvalidVersion:
        raise ConfigError(f"{where}: version {version!r} is not a valid PEP 440 version") from None


def sdist_metadata(sdist: Path) -> Metadata:
    """Name and version of a built sdist (its PKG-INFO): exactly what the files carry."""
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                data = tar.extractfile(member)
                if data is not None:
                    msg = email.parser.HeaderParser().parsestr(data.read().decode("utf-8", "replace"))
                    if msg["Name"] and msg["Version"]:
                        return Metadata(name=msg["Name"], version=_normalized(msg["Version"], sdist))
    raise OperationError(f"{sdist.name}: the backend wrote no PKG-INFO with a name and version")


def build_sdist(envs: buildenv.EnvSource, project: Path, outdir: Path) -> Dist:
    """The sdist, as ``python -m build --sdist`` builds it."""
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        with _ready(envs, project, "sdist") as builder:
            return Dist.of(Path(builder.build("sdist", outdir)))
    except (build.BuildException, build.BuildBackendException, subprocess.CalledProcessError) as exc:
        raise _backend_error(project, exc) from None


def build_wheel(envs: buildenv.EnvSource, project: Path, sdist: Path, outdir: Path) -> Dist:
    """The wheel built from the unpacked sdist, as ``python -m build`` builds it."""
    try:
        with tempfile.TemporaryDirectory(prefix="ca-sdist-") as tmp, tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
            (unpacked,) = Path(tmp).iterdir()
            with _ready(envs, unpacked, "wheel") as builder:
                return Dist.of(Path(builder.build("wheel", outdir)))
    except (build.BuildException, build.BuildBackendException, subprocess.CalledProcessError) as exc:
        raise _backend_error(project, exc) from None


def wheel_metadata(envs: buildenv.EnvSource, project: Path) -> email.message.Message:
    """The wheel's METADATA as the backend prepares it (prepare_metadata_for_build_wheel), without building."""
    try:
        with tempfile.TemporaryDirectory(prefix="ca-metadata-") as tmp, _ready(envs, project, "wheel") as builder:
            text = (Path(builder.metadata_path(tmp)) / "METADATA").read_text(encoding="utf-8")
    except (build.BuildException, build.BuildBackendException, subprocess.CalledProcessError) as exc:
        raise _backend_error(project, exc) from None
    return email.parser.HeaderParser().parsestr(text)


def build_dists(envs: buildenv.EnvSource, project: Path, outdir: Path) -> list[Dist]:
    """sdist, then the wheel built from that sdist (as ``python -m build`` does), into ``outdir``."""
    sdist = build_sdist(envs, project, outdir)
    return [sdist, build_wheel(envs, project, sdist.path, outdir)]


def check_dist_dir(dist_dir: Path) -> None:
    """Refuse a dist directory that cannot be one, before anything is built or uploaded.

    A file, a dangling link, a path under a file, or an unwritable parent would otherwise fail after
    the build (and, with a late check, after the upload).
    """
    if dist_dir.is_symlink() and not dist_dir.exists():
        raise ConfigError(f"dist directory {dist_dir}: a link to {os.readlink(dist_dir)}, which does not exist")
    if dist_dir.exists():
        if not dist_dir.is_dir():
            raise ConfigError(f"dist directory {dist_dir}: exists and is not a directory")
        if not os.access(dist_dir, os.W_OK | os.X_OK):
            raise ConfigError(f"dist directory {dist_dir}: not writable")
        return
    for parent in dist_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"dist directory {dist_dir}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(f"dist directory {dist_dir}: cannot create it in {parent} (not writable)")
            return
        if parent.is_symlink():
            raise ConfigError(f"dist directory {dist_dir}: {parent} is a link to a path that does not exist")


def replace_dists(dists: list[Dist], dist_dir: Path, name: str, keep: set[str] | None = None) -> list[Dist]:
    """Move freshly built files into ``dist_dir`` after removing this project's older distributions.

    Files of other projects in a shared directory stay: only wheels and sdists named ``name`` go. Files
    named in ``keep`` stay too, and are returned in place of the new build's file of that name.
    """
    keep = keep or set()
    dist_dir.mkdir(parents=True, exist_ok=True)
    for old in [*dist_dir.glob("*.whl"), *dist_dir.glob("*.tar.gz")]:
        parsed = parse_dist(old.name)
        if parsed and parsed[0] == canonicalize_name(name) and old.name not in keep:
            old.unlink()
    moved = []
    for dist in dists:
        target = dist_dir / dist.path.name
        if dist.path.name in keep:
            moved.append(Dist.of(target))
            continue
        shutil.move(dist.path, target)
        moved.append(Dist(path=target, sha256=dist.sha256, size=dist.size))
    return moved
