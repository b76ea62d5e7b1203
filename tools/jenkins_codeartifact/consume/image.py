"""The consumer image: a BuildKit build with the index as a secret (the index is checked first: index.py).

The docker SDK cannot pass BuildKit secrets, so the build runs the docker CLI (``buildx build`` where the
plugin exists, else ``DOCKER_BUILDKIT=1 docker build``); everything else (run, push, pull) uses the SDK
(containers.py, registry.py). The index URL with its token reaches the build only as a 0600 file named by
``--secret``: never argv, environment, build args or a layer.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .. import redact, signals
from ..console import Progress, step
from ..errors import ConfigError, OperationError, PreconditionError
from ..index import Index
from . import cleanup, diagnose, pipconf
from .containers import validate_network

log = logging.getLogger(__name__)

TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
BUILDKIT_HINT = (
    "install the buildx plugin, or point CA_DOCKER_CLI/--docker-cli at a docker CLI that can build with "
    "BuildKit (Debian's docker.io 20.10 at /usr/bin/docker can); a build-arg fallback would leak the token"
)


def validate_ref(name: str, tag: str | None) -> str:
    """``name`` and ``tag`` checked against Docker's reference grammar; returns the tag."""
    if not NAME_RE.fullmatch(name):
        raise ConfigError(
            f"--image-name {name!r}: not a valid image name",
            hint="lower-case letters, digits and separators (. _ -), optionally with /-separated parts",
        )
    if not tag:
        raise ConfigError("no image tag", hint="pass --tag or set CA_TAG (Jenkins sets BUILD_NUMBER)")
    if not TAG_RE.fullmatch(tag):
        raise ConfigError(
            f"--tag {tag!r}: not a valid image tag", hint="up to 128 of A-Z a-z 0-9 _ . - (no leading . or -)"
        )
    return tag


@dataclass(frozen=True)
class BuildKitCLI:
    """How to invoke a BuildKit build with this docker CLI: argv prefix and extra environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    kind: str  # "buildx" or "DOCKER_BUILDKIT=1"


def find_buildkit(cli: str, run: Callable[..., subprocess.CompletedProcess[str]] | None = None) -> BuildKitCLI:
    """Probe ``cli`` for a BuildKit build that accepts ``--secret``; fail clearly if there is none."""
    run = run or subprocess.run
    path = shutil.which(cli)
    if path is None:
        raise PreconditionError(f"docker CLI {cli!r} not found", hint=BUILDKIT_HINT)

    def probe(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str] | None:
        try:
            return run(
                [path, *args], capture_output=True, text=True, timeout=30, env=redact.child_environ(env), check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("%s %s: %s", path, " ".join(args), exc)
            return None

    buildx = probe(["buildx", "version"], {})
    if buildx is not None and buildx.returncode == 0:
        return BuildKitCLI((path, "buildx", "build", "--load"), {}, "buildx")
    legacy = probe(["build", "--help"], {"DOCKER_BUILDKIT": "1"})
    if legacy is not None and legacy.returncode == 0 and "--secret" in legacy.stdout:
        return BuildKitCLI((path, "build"), {"DOCKER_BUILDKIT": "1"}, "DOCKER_BUILDKIT=1")
    detail = ((legacy.stderr or legacy.stdout).strip().splitlines() or [""])[0] if legacy else "did not run"
    raise PreconditionError(f"docker CLI {path} cannot do BuildKit builds with secrets ({detail})", hint=BUILDKIT_HINT)


@dataclass(frozen=True)
class BuildResult:
    image: str
    image_id: str
    seconds: float
    builder: str


def check_context(context: Path, dockerfile: str | os.PathLike[str] | None = None) -> Path:
    """The Dockerfile of ``context``; bad input fails here, before any token is fetched."""
    if not context.is_dir():
        raise ConfigError(f"--context {context}: not a directory")
    docker_file = Path(dockerfile) if dockerfile else context / "Dockerfile"
    if not docker_file.is_file():
        raise ConfigError(f"{docker_file}: no Dockerfile", hint="run in application_src/ or pass --context")
    return docker_file


def first_requirement(context: Path) -> str | None:
    """The first project named in ``context/requirements.txt`` (the one the preflight asks about)."""
    try:
        lines = (context / "requirements.txt").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            return str(Requirement(text).name)
        except InvalidRequirement:
            return None
    return None


_NOISE = re.compile(r"#\d+ sha256:[0-9a-f]{64}")  # BuildKit's plain progress repeats each step's digest


def build(
    index: Index,
    *,
    context: str | os.PathLike[str],
    image: str,
    cli: str = "docker",
    dockerfile: str | os.PathLike[str] | None = None,
    base_image: str | None = None,
    network: str = "host",
    no_cache: bool = False,
    build_args: Mapping[str, str] | None = None,
    inline_cache: bool = False,
    cache_from: str | None = None,
    popen: Callable[..., subprocess.Popen[str]] | None = None,
    labels: Mapping[str, str] | None = None,
    probe: Callable[..., subprocess.CompletedProcess[str]] | None = None,
) -> BuildResult:
    """Build ``image`` from ``context`` with pip pointed at ``index`` through a BuildKit secret.

    ``build_args`` are passed as given (never anything secret: a build arg is in the image's history);
    ``inline_cache`` records the cache in the image (so that a pushed image can serve the next agent);
    ``cache_from`` names such an image in a registry, whose layers this build reuses where they match.
    """
    ctx = Path(context)
    docker_file = check_context(ctx, dockerfile)
    validate_network(network)
    kit = find_buildkit(cli, run=probe)
    index.check_reachable(first_requirement(ctx))
    for path in pipconf.remove_stale():
        cleanup.note(f"removed the pip.conf secret {path} of an earlier, killed run")
    secret_dir = ""
    try:
        with pipconf.secret_file(pipconf.pip_config(index)) as secret:
            secret_dir = str(secret.parent)
            args = {**({"BASE_IMAGE": base_image} if base_image else {}), **(build_args or {})}
            options = _Options(network, no_cache, args, inline_cache, cache_from, dict(labels or {}))
            return _build_with(index, kit, ctx, docker_file, secret, image, options, popen)
    except BaseException:
        if secret_dir and not os.path.exists(secret_dir):
            cleanup.note(f"removed the pip.conf secret {secret_dir}")
        raise


@dataclass(frozen=True)
class _Options:
    network: str
    no_cache: bool
    build_args: Mapping[str, str]
    inline_cache: bool
    cache_from: str | None
    labels: Mapping[str, str]


def _build_with(
    index: Index,
    kit: BuildKitCLI,
    ctx: Path,
    docker_file: Path,
    secret: Path,
    image: str,
    options: _Options,
    popen: Callable[..., subprocess.Popen[str]] | None,
) -> BuildResult:
    with tempfile.TemporaryDirectory(prefix="ca-build-") as tmp:
        iidfile = Path(tmp) / "iid"
        argv = [
            *kit.argv,
            "--progress=plain",
            "--secret",
            f"id={pipconf.SECRET_ID},src={secret}",
            "--iidfile",
            str(iidfile),
            "--tag",
            image,
            "--file",
            str(docker_file),
        ]
        if options.network == "host":  # RUN steps reach an index on 127.0.0.1 (the sandbox) as a remote one
            argv += ["--network", "host"]
        for key, value in options.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        argv += [part for key, value in options.labels.items() for part in ("--label", f"{key}={value}")]
        if options.inline_cache:  # the image records its own cache: pushed, the next agent reuses its layers
            argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
        if options.cache_from:
            argv += ["--cache-from", options.cache_from]
        if options.no_cache:
            argv.append("--no-cache")
        argv.append(str(ctx))
        with step(f"build {image} ({kit.kind}, index {index.description or index.simple_url})", log) as progress:
            tail = _stream(argv, redact.child_environ(kit.env), progress, popen or subprocess.Popen)
            if tail is not None:
                raise diagnose.build_error(image, tail, lookup=index.project_page)
            try:
                image_id = iidfile.read_text(encoding="utf-8").strip()
            except OSError:
                image_id = ""
            if not image_id:
                raise OperationError(
                    f"build of {image} reported success but wrote no image id (--iidfile)",
                    hint=f"see the build output above; check that {' '.join(kit.argv)} supports --iidfile",
                )
    log.info("built %s (%s)", image, image_id[:19])
    return BuildResult(image=image, image_id=image_id, seconds=progress.elapsed, builder=kit.kind)


def _stream(
    argv: list[str], env: Mapping[str, str], progress: Progress, popen: Callable[..., subprocess.Popen[str]]
) -> deque[str] | None:
    """Run ``argv`` streaming each (scrubbed) line as progress; the last lines on failure, else None.

    The docker CLI runs in its own process group, so that an abort (SIGTERM while waiting for its next
    line, which may be minutes away in a silent step) stops it and its build at once.
    """
    tail: deque[str] = deque(maxlen=100)  # room for a whole pip traceback
    try:
        proc = popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=dict(env),
            process_group=0,
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        raise OperationError(f"cannot run {argv[0]}: {exc.strerror}", hint=BUILDKIT_HINT) from exc
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = redact.scrub(raw.rstrip())
            if not line.strip() or _NOISE.fullmatch(line):
                continue
            tail.append(line)
            progress.line(line)
        proc.wait()  # a plain wait: no thread of ours takes SIGTERM/SIGINT, so an abort ends it
    except BaseException:
        with signals.deferred():
            stop_group(proc)
        cleanup.note(f"stopped the docker CLI (pid {proc.pid}) and its build")
        raise
    finally:
        proc.stdout.close()
    return tail if proc.returncode != 0 else None


def stop_group(proc: subprocess.Popen[str], grace: float = 2.0) -> None:
    """SIGTERM ``proc``'s process group (the docker CLI cancels its build on it), SIGKILL after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when this process dies, even by SIGKILL (no build left running)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
