"""Build environments: PyPA build's isolation, with the static part cached only where provably identical.

``python -m build`` (uv installer) creates a venv, installs ``build-system.requires``, asks the backend
for its dynamic requirements and installs those on top, for the sdist and again for the wheel. Here:

- The static environment is keyed by the *resolution* of ``build-system.requires`` (``uv pip compile``
  against the configured index, every run), the interpreter and the index settings. Same key, same
  installed files as a fresh install of today's resolution, so it is reused; a new release of the
  backend is a new key.
- Dynamic requirements (``get_requires_for_build_*``, asked in that static env, as PyPA build asks)
  already satisfied by it change nothing, so the build runs there. Any that are not get a fresh
  throwaway env (static, then dynamic, as PyPA build installs them): a shared env is never modified.
- ``fresh=True`` (``--fresh-build-env``): every build gets its own throwaway env, nothing shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import uv
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .. import redact
from ..errors import ConfigError, OperationError
from ..settings import cache_dir
from .buildindex import BuildIndex, uv_child_environ

log = logging.getLogger(__name__)

UNUSED_MAX_AGE = 14 * 24 * 3600  # cached envs not used for that long are removed


class HookFailed(subprocess.CalledProcessError):
    """A child failed; ``output`` is what it printed (the backend's own words, for the ERROR line)."""


class Children:
    """The hooks and uv runs of one build, each in a process group of its own: a run interrupted while one
    runs (SIGTERM, Ctrl-C, an error) kills that group, so no backend outlives ca-publish."""

    def hook(self, cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        """pyproject_hooks runner: one fresh process per hook, output kept for -v and shown when it fails."""
        self.run(list(cmd), cwd, redact.child_environ(extra_environ))

    def run(self, cmd: list[str], cwd: str | None, env: Mapping[str, str]) -> str:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group, so the kill below reaches what it started
        )
        try:
            output, _ = proc.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        for line in output.splitlines():
            log.debug("  %s", line)
        if proc.returncode:
            for line in output.splitlines()[-40:]:
                log.info("  | %s", line)
            raise HookFailed(proc.returncode, cmd[:2], output=output)
        return output


class BuildEnv:
    """A venv as PyPA build makes it (``venv`` without pip); implements ``build.env.IsolatedEnv``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        paths = sysconfig.get_paths(scheme="venv", vars={"base": str(path), "platbase": str(path)})
        self.scripts_dir = paths["scripts"]
        self.purelib = paths["purelib"]

    @property
    def python_executable(self) -> str:
        return str(Path(self.scripts_dir) / "python")

    def make_extra_environ(self) -> dict[str, str]:
        """The env's bin/ first on PATH (meson, cmake, ninja...) and no PYTHONPATH, as PyPA build sets."""
        path = os.environ.get("PATH")
        return {"PATH": os.pathsep.join([self.scripts_dir, path]) if path else self.scripts_dir, "PYTHONPATH": ""}

    def create(self, children: Children, index: BuildIndex, *installs: Sequence[str]) -> None:
        """A new venv, then one ``uv pip install`` per group, in order (static, then dynamic requirements)."""
        venv.EnvBuilder(symlinks=True, with_pip=False).create(self.path)
        for requires in installs:
            if requires:
                _uv(children, index, "install", *requires, "--python", self.python_executable, venv=self.path)

    def unsatisfied(self, requires: Sequence[str]) -> list[str]:
        """Requirements this env does not meet, checked in its own site-packages (never ca-publish's),
        recursively as ``build.check_dependency`` checks them."""
        installed: dict[str, metadata.Distribution] = {
            canonicalize_name(d.name): d for d in metadata.distributions(path=[self.purelib])
        }
        return [r for r in requires if not _satisfied(Requirement(r), installed, frozenset(), ())]


def _satisfied(
    req: Requirement, installed: Mapping[str, metadata.Distribution], extras: frozenset[str], seen: tuple[str, ...]
) -> bool:
    if str(req) in seen:
        return True
    if req.marker and not any(req.marker.evaluate({"extra": e}) for e in {"", *extras}):
        return True  # does not apply here
    dist = installed.get(canonicalize_name(req.name))
    if dist is None or (req.specifier and not req.specifier.contains(dist.version, prereleases=True)):
        return False
    return all(
        _satisfied(Requirement(sub), installed, frozenset(req.extras), (*seen, str(req))) for sub in dist.requires or []
    )


def _uv(children: Children, index: BuildIndex, *args: str, venv: Path | None = None) -> str:
    env = uv_child_environ(redact.child_environ(), index)
    env.pop("PYTHONPATH", None)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
    try:
        return children.run([uv.find_uv_bin(), "pip", *args], None, env)
    except HookFailed as exc:
        raise OperationError(
            f"could not install build requirements from {index.describe()}: {_last_line(exc.output)}",
            hint="check that this index serves them (--build-index / CA_BUILD_INDEX, PIP_INDEX_URL, pip.conf)",
        ) from None


def _last_line(output: str | None) -> str:
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def resolution(children: Children, index: BuildIndex, requires: Sequence[str]) -> str:
    """Today's pins for ``requires`` from ``index``: what a fresh install would put in the env."""
    if not requires:
        return ""
    with tempfile.NamedTemporaryFile("w", prefix="ca-build-requires-", suffix=".txt") as spec:
        spec.write("\n".join(requires))
        spec.flush()
        return _uv(
            children, index, "compile", "--quiet", "--no-header", "--no-annotate", "--python", sys.executable, spec.name
        )


class EnvSource:
    """Hands out build envs for one project's ``build-system.requires``."""

    def __init__(self, requires: Sequence[str], index: BuildIndex, fresh: bool) -> None:
        self.requires, self.index, self.fresh = list(requires), index, fresh
        self._pins: str | None = None
        self.children = Children()

    @contextlib.contextmanager
    def static(self) -> Iterator[BuildEnv]:
        """An env with the static requirements: cached by their resolution, or throwaway with ``fresh``."""
        if self.fresh:
            with self.throwaway(()) as env:
                yield env
            return
        if self._pins is None:
            self._pins = resolution(self.children, self.index, self.requires)
        key = hashlib.sha256("\n".join([sys.version, sys.executable, self._pins, self.index.key()]).encode())
        with _cached(key.hexdigest()[:20], self.children, self.index, self._pins) as env:
            yield env

    def install(self, env: BuildEnv, requires: Sequence[str]) -> None:
        """Install into ``env``: only ever a throwaway one (``fresh``), never a cached one."""
        assert self.fresh or not env.path.is_relative_to(cache_dir()), "a cached env is never modified"
        _uv(self.children, self.index, "install", *requires, "--python", env.python_executable, venv=env.path)

    @contextlib.contextmanager
    def throwaway(self, extra: Sequence[str]) -> Iterator[BuildEnv]:
        """A fresh env: static requirements, then ``extra`` (PyPA build's two installs)."""
        with tempfile.TemporaryDirectory(prefix="ca-build-env-") as tmp:
            env = BuildEnv(Path(tmp) / "env")
            env.create(self.children, self.index, self.requires, list(extra))
            yield env


@contextlib.contextmanager
def _cached(key: str, children: Children, index: BuildIndex, pins: str) -> Iterator[BuildEnv]:
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
        # Executors sharing this cache: one creates it, the others wait, then all only read it.
        env = BuildEnv(base / "env")
        ready = base / ".ready"
        fcntl.flock(lock, fcntl.LOCK_SH)
        if not ready.exists():
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            shutil.rmtree(env.path, ignore_errors=True)
            try:
                env.create(children, index, [p for p in pins.splitlines() if p.strip() and p[0] not in "#-"])
            except BaseException:
                shutil.rmtree(env.path, ignore_errors=True)
                raise
        ready.touch()
        fcntl.flock(lock, fcntl.LOCK_SH)  # builds only read it: others may use it meanwhile
        _prune(root, keep=base)
        yield env


def _prune(root: Path, keep: Path) -> None:
    """Remove envs nobody used for UNUSED_MAX_AGE (a resolution that changed leaves its old key behind)."""
    for other in root.iterdir():
        ready = other / ".ready"
        with contextlib.suppress(OSError):
            if other != keep and ready.exists() and time.time() - ready.stat().st_mtime > UNUSED_MAX_AGE:
                shutil.rmtree(other, ignore_errors=True)
