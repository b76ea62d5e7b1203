"""The consumer image: a BuildKit build with the index as a secret, and the index check before it.

The docker SDK cannot pass BuildKit secrets, so the build runs the docker CLI (``buildx build`` where the
plugin exists, else ``DOCKER_BUILDKIT=1 docker build``); everything else (run, push, pull) uses the SDK
(containers.py, registry.py). The index URL with its token reaches the build only as a 0600 file named by
``--secret``: never argv, environment, build args or a layer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import redact
from ..console import Progress, step
from ..errors import ConfigError, OperationError, PreconditionError
from ..index import Index, raise_for_auth
from .containers import ENGINE_HINT, validate_network

log = logging.getLogger(__name__)

SECRET_ID = "pipconf"  # the Dockerfile mounts it: RUN --mount=type=secret,id=pipconf
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


def pip_config(index: Index) -> str:
    """pip.conf text pointing pip at ``index`` with its credentials (pip reads it with RawConfigParser)."""
    url = index.pip_index_url()
    lines = ["[global]", f"index-url = {url}"]
    host = urllib.parse.urlsplit(index.simple_url).hostname or ""
    if urllib.parse.urlsplit(index.simple_url).scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        lines.append(f"trusted-host = {host}")  # pip refuses plain-http indexes on other hosts otherwise
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def secret_file(content: str) -> Iterator[Path]:
    """A file only this user can read, holding ``content``, removed on exit whatever happens."""
    directory = Path(tempfile.mkdtemp(prefix="ca-secret-"))  # 0700
    path = directory / SECRET_ID
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


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


def preflight_index(index: Index, project: str | None = None, timeout: float = 15.0) -> None:
    """Fail before starting Docker if the index refuses the credentials (an expired token, say).

    Asks for one project's page: the root of a simple index with a PyPI upstream lists every project
    on PyPI, which takes seconds to serve.
    """
    url = index.simple_url + (f"{canonicalize_name(project)}/" if project else "")
    try:
        with requests.get(url, auth=index.auth, timeout=timeout, headers={"Accept": "text/html"}, stream=True) as resp:
            raise_for_auth(
                resp,
                index.simple_url,
                hint="the CodeArtifact token may have expired or lack codeartifact:ReadFromRepository; rerun to "
                "get a fresh one, or check CA_INDEX_USERNAME/CA_INDEX_PASSWORD",
            )
    except requests.RequestException as exc:
        log.debug("index preflight skipped: %s", type(exc).__name__)
        return  # the build may still reach it (a different network); pip will say


_AUTH_FAILURE = re.compile(r"\b(401|403)\b.*(Unauthorized|Forbidden)|HTTP error 40[13]", re.IGNORECASE)
_NOISE = re.compile(r"#\d+ sha256:[0-9a-f]{64}")  # BuildKit's plain progress repeats each step's digest
_MISSING = re.compile(r"No matching distribution found for (\S+)")


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
    popen: Callable[..., subprocess.Popen[str]] | None = None,
    probe: Callable[..., subprocess.CompletedProcess[str]] | None = None,
) -> BuildResult:
    """Build ``image`` from ``context`` with pip pointed at ``index`` through a BuildKit secret."""
    ctx = Path(context)
    docker_file = check_context(ctx, dockerfile)
    validate_network(network)
    kit = find_buildkit(cli, run=probe)
    preflight_index(index, first_requirement(ctx))
    with secret_file(pip_config(index)) as secret, tempfile.TemporaryDirectory(prefix="ca-build-") as tmp:
        iidfile = Path(tmp) / "iid"
        argv = [
            *kit.argv,
            "--progress=plain",
            "--secret",
            f"id={SECRET_ID},src={secret}",
            "--iidfile",
            str(iidfile),
            "--tag",
            image,
            "--file",
            str(docker_file),
        ]
        if network == "host":  # RUN steps reach an index on 127.0.0.1 (the sandbox) the same as a remote one
            argv += ["--network", "host"]
        if base_image:
            argv += ["--build-arg", f"BASE_IMAGE={base_image}"]
        if no_cache:
            argv.append("--no-cache")
        argv.append(str(ctx))
        with step(f"build {image} ({kit.kind}, index {index.description or index.simple_url})", log) as progress:
            tail = _stream(argv, redact.child_environ(kit.env), progress, popen or subprocess.Popen)
            if tail is not None:
                raise _build_error(image, tail)
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
    """Run ``argv`` streaming each (scrubbed) line as progress; the last lines on failure, else None."""
    tail: deque[str] = deque(maxlen=40)
    try:
        proc = popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=dict(env)
        )
    except OSError as exc:
        raise OperationError(f"cannot run {argv[0]}: {exc.strerror}", hint=BUILDKIT_HINT) from exc
    assert proc.stdout is not None
    with proc:
        for raw in proc.stdout:
            line = redact.scrub(raw.rstrip())
            if not line.strip() or _NOISE.fullmatch(line):
                continue
            tail.append(line)
            progress.line(line)
    return tail if proc.returncode != 0 else None


def _build_error(image: str, tail: deque[str]) -> OperationError:
    text = "\n".join(tail)
    if "Cannot connect to the Docker daemon" in text or ("docker daemon" in text.lower() and "connect" in text):
        return OperationError(f"build of {image} failed: the Docker engine is not reachable", hint=ENGINE_HINT)
    if _AUTH_FAILURE.search(text):
        return OperationError(
            f"build of {image} failed: the index refused the credentials during pip install",
            hint="the token may have expired mid-build; rerun to get a fresh one",
        )
    missing = _MISSING.search(text)
    if missing:
        return OperationError(
            f"build of {image} failed: pip found no distribution for {missing.group(1)} on the index",
            hint="publish it first (ca-publish) or fix the pin in requirements.txt",
        )
    last = next((line for line in reversed(tail) if line.strip()), "no output")
    return OperationError(f"build of {image} failed: {last}", hint="see the build output above")
