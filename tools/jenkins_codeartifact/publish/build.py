"""Build sdist + wheel with PyPA ``build``, in a prepared build environment that is reused between runs.

``python -m build`` creates a fresh virtualenv and pip-installs the backend for every build; that is
where nearly all of its time goes. Here the environment is keyed by the project's ``build-system.requires``
and the interpreter, created once with uv, and reused; a reused environment is still isolated from the
job's own site-packages. ``fresh_env=True`` gives the classic throwaway environment.
"""

from __future__ import annotations

import contextlib
import email.parser
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import build
import uv
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import files, redact
from ..dists import Dist, parse_dist
from ..errors import ConfigError, OperationError
from ..settings import cache_dir

log = logging.getLogger(__name__)

ENV_MAX_AGE = 7 * 24 * 3600  # unpinned requirements get refreshed weekly
DEFAULT_REQUIRES = ["setuptools>=40.8.0"]  # PEP 517's default when build-system is absent
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"


@dataclass(frozen=True)
class Metadata:
    name: str
    version: str


@dataclass(frozen=True)
class BuildSystem:
    requires: list[str]
    backend: str  # "module" or "module:object"


def read_build_system(project: Path) -> BuildSystem:
    """``[build-system]`` of ``project``; a missing or broken pyproject is a config error."""
    pyproject = project / "pyproject.toml"
    if not project.is_dir():
        raise ConfigError(f"{project}: project directory not found")
    if pyproject.is_dir():
        raise ConfigError(f"{pyproject}: is a directory, not a file")
    if not pyproject.is_file():
        raise ConfigError(f"{pyproject}: not found", hint="ca-publish needs a PEP 517/621 project")
    try:
        data = tomllib.loads(files.read_text(pyproject))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from None
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


def _report(output: str, returncode: int, cmd: Sequence[str]) -> None:
    """A child's output goes to the debug log; when it failed, its tail is shown and the step fails."""
    for line in output.splitlines():
        log.debug("  %s", line)
    if returncode:
        for line in output.splitlines()[-40:]:
            log.info("  | %s", line)
        raise subprocess.CalledProcessError(returncode, list(cmd[:2]))


def _run(cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
    """Runner for build hooks and uv: output kept for -v and shown in full when the step fails."""
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=redact.child_environ(extra_environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        check=False,
    )
    _report(proc.stdout, proc.returncode, cmd)


# Runs in the build environment's interpreter (stdlib only): see its docstring.
FORK_SERVER = Path(__file__).with_name("fork_server.py")


class WarmRunner:
    """A pyproject_hooks runner whose hooks fork from a process that has already imported the backend.

    pyproject_hooks starts a fresh interpreter per hook, and each one imports the backend again: sdist +
    wheel paid that twice, on the critical path. The fork server (``fork_server.py``) imports it once, in
    parallel with whatever the caller does meanwhile, and each hook then starts from a fork;
    ``benchmarks/publish.py`` measures the whole.
    Hooks for another interpreter, or any hiccup of the server, fall back to a plain subprocess.
    """

    def __init__(self, python: str, backend: str) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._aborted = False
        self._proc: subprocess.Popen[str] | None = None
        if hasattr(os, "fork"):
            self._proc = subprocess.Popen(
                [python, str(FORK_SERVER), backend.split(":")[0]],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=redact.child_environ(),
                text=True,
                start_new_session=True,  # its own process group, so abort() reaches the hooks it forked
            )

    def __call__(
        self, cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
    ) -> None:
        if self._aborted:
            raise subprocess.CalledProcessError(-signal.SIGKILL, list(cmd[:2]))
        proc = self._proc
        if proc is None or proc.poll() is not None or cmd[0] != self.python:
            return _run(cmd, cwd, extra_environ)
        assert proc.stdin is not None and proc.stdout is not None
        with self._lock, tempfile.NamedTemporaryFile(prefix="ca-hook-", suffix=".log") as out:
            request = {
                "cmd": list(cmd),
                "cwd": cwd or os.getcwd(),
                "env": redact.child_environ(extra_environ),
                "out": out.name,
            }
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                answer = proc.stdout.readline()
            except OSError:
                answer = ""
            if self._aborted:
                raise subprocess.CalledProcessError(-signal.SIGKILL, list(cmd[:2]))
            if not answer.strip().lstrip("-").isdigit():
                return _run(cmd, cwd, extra_environ)
            _report(Path(out.name).read_text(errors="replace"), int(answer), cmd)
        return None

    def abort(self) -> None:
        """Kill the server and the hook it is running: the run is being abandoned (SIGTERM, an error)."""
        self._aborted = True
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()


class BuildEnv:
    """A virtualenv holding the build backend, created with uv and shared by builds with the same requires."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = str(path / "bin" / "python")
        self.runner: WarmRunner | None = None

    @classmethod
    @contextlib.contextmanager
    def prepared(cls, system: BuildSystem, fresh: bool = False) -> Iterator[BuildEnv]:
        """Yield an environment with the backend installed (cached, or fresh) and warming up already."""
        with cls._installed(system.requires, fresh) as env:
            env.runner = WarmRunner(env.python, system.backend)
            try:
                yield env
            finally:
                env.runner.close()

    @classmethod
    @contextlib.contextmanager
    def _installed(cls, requires: list[str], fresh: bool) -> Iterator[BuildEnv]:
        if fresh:
            with tempfile.TemporaryDirectory(prefix="ca-build-env-") as tmp:
                env = cls(Path(tmp) / "env")
                env._create(requires)
                yield env
            return
        key = hashlib.sha256("\n".join([sys.version, *sorted(requires)]).encode()).hexdigest()[:16]
        root = cache_dir() / "build-envs"
        base = root / key
        try:
            base.mkdir(parents=True, exist_ok=True)
            lock = (base / ".lock").open("a")
        except OSError as exc:
            raise ConfigError(
                f"build environment cache {root}: {exc.strerror}",
                hint="set XDG_CACHE_HOME to a writable directory, or pass --fresh-build-env",
            ) from None
        with lock:
            # Jobs on other executors may share this cache: one creates, the others wait and reuse. A
            # generation in use is never deleted; a new one replaces it after ENV_MAX_AGE, and old ones go
            # once they are twice that old.
            fcntl.flock(lock, fcntl.LOCK_EX)
            generations = sorted((p for p in base.glob("env-*") if (p / ".ready").exists()), reverse=True)
            fresh_enough = [p for p in generations if time.time() - (p / ".ready").stat().st_mtime < ENV_MAX_AGE]
            if fresh_enough:
                env = cls(fresh_enough[0])
                log.debug("reusing build environment %s", env.path)
            else:
                env = cls(base / f"env-{time.time_ns()}")
                try:
                    env._create(requires)
                except BaseException:
                    shutil.rmtree(env.path, ignore_errors=True)
                    raise
                (env.path / ".ready").touch()
            for old in generations:
                if old != env.path and time.time() - (old / ".ready").stat().st_mtime > 2 * ENV_MAX_AGE:
                    shutil.rmtree(old, ignore_errors=True)
        yield env

    def _create(self, requires: list[str]) -> None:
        uv_bin = uv.find_uv_bin()
        try:
            _run([uv_bin, "venv", "--quiet", "--python", sys.executable, str(self.path)])
            self.install(requires)
        except subprocess.CalledProcessError as exc:
            raise OperationError(
                f"could not create the build environment ({' '.join(requires)})",
                hint="check that the index (UV_INDEX_URL / PIP_INDEX_URL) serves the build backend",
            ) from exc

    def install(self, requires: Sequence[str]) -> None:
        if requires:
            _run([uv.find_uv_bin(), "pip", "install", "--quiet", "--python", self.python, *requires])


def _builder(env: BuildEnv, source: Path, distribution: Literal["sdist", "wheel"]) -> build.ProjectBuilder:
    """A builder whose backend's extra requirements are installed.

    Asking the backend costs a Python start-up per distribution, so a satisfied answer is remembered in
    the environment, keyed by what a backend's answer can depend on (``[build-system]`` and ``[tool]``):
    a version bump does not ask again.
    """
    builder = build.ProjectBuilder(source, python_executable=env.python, runner=env.runner or _run)
    data = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    relevant = json.dumps([data.get("build-system"), data.get("tool")], sort_keys=True, default=str)
    digest = hashlib.sha256(relevant.encode()).hexdigest()[:16]
    marker = env.path / f".requires-ok-{distribution}-{digest}"
    if not marker.exists():
        missing = builder.check_dependencies(distribution)
        if missing:
            env.install(sorted({group[0] for group in missing}))
        marker.touch()
    return builder


def _backend_error(what: str, project: Path, exc: Exception) -> OperationError:
    return OperationError(
        f"{project}: {what} failed: {exc}",
        hint="the backend's output is above; fix the project and run again",
    )


def static_metadata(project: Path) -> Metadata | None:
    """Name and version from ``[project]`` when both are static: PEP 621 makes them authoritative."""
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
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


def read_metadata(env: BuildEnv, project: Path, workdir: Path) -> Metadata:
    """Name and version as the backend will build them: static ones, else the prepare_metadata hook."""
    static = static_metadata(project)
    if static is not None:
        return static
    try:
        meta_dir = Path(_builder(env, project, "wheel").metadata_path(workdir))
    except (build.BuildException, build.BuildBackendException, subprocess.CalledProcessError) as exc:
        raise _backend_error("reading metadata", project, exc) from None
    msg = email.parser.HeaderParser().parsestr((meta_dir / "METADATA").read_text(encoding="utf-8"))
    return Metadata(name=msg["Name"], version=_normalized(msg["Version"], meta_dir / "METADATA"))


def build_dists(env: BuildEnv, project: Path, outdir: Path) -> list[Dist]:
    """sdist, then the wheel built from that sdist (as ``python -m build`` does), into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        sdist = Path(_builder(env, project, "sdist").build("sdist", outdir))
        with tempfile.TemporaryDirectory(prefix="ca-sdist-") as tmp, tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
            (unpacked,) = Path(tmp).iterdir()
            wheel = Path(_builder(env, unpacked, "wheel").build("wheel", outdir))
    except (build.BuildException, build.BuildBackendException, subprocess.CalledProcessError) as exc:
        raise _backend_error("build", project, exc) from None
    return [Dist.of(sdist), Dist.of(wheel)]


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
