"""The consumer image: BuildKit build with the index as a secret, smoke test, registry login and push.

Two ways to talk to Docker, each where it is the right tool. The docker SDK cannot pass BuildKit
secrets, so the build runs the docker CLI (``buildx build`` where the plugin exists, else
``DOCKER_BUILDKIT=1 docker build``); everything else (run, logs, inspect, tag, push, pull) uses the SDK,
which gives structured errors and needs no output parsing. The index URL with its token reaches the
build only as a 0600 file named by ``--secret``: never argv, environment, build args or a layer.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import redact
from ..console import Progress, step
from ..errors import ConfigError, OperationError, PreconditionError
from ..index import Index, raise_for_auth

log = logging.getLogger(__name__)

SECRET_ID = "pipconf"  # the Dockerfile mounts it: RUN --mount=type=secret,id=pipconf
LABEL = "io.github.jenkins-codeartifact.role"
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
NETWORKS = ("host", "bridge")
BUILDKIT_HINT = (
    "install the buildx plugin, or point CA_DOCKER_CLI/--docker-cli at a docker CLI that can build with "
    "BuildKit (Debian's docker.io 20.10 at /usr/bin/docker can); a build-arg fallback would leak the token"
)
ENGINE_HINT = "start the Docker engine (or set DOCKER_HOST) and check this user may use its socket"


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


def validate_network(network: str) -> str:
    if network not in NETWORKS:
        raise ConfigError(f"--network {network!r}: must be one of {', '.join(NETWORKS)}")
    return network


# --------------------------------------------------------------------------------------------- build


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


# ---------------------------------------------------------------------------------------- the engine


def engine(factory: Callable[[], Any] | None = None) -> Any:
    """A docker SDK client whose engine answered a ping; a clear error when there is none."""
    try:
        client = (factory or docker.from_env)()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise PreconditionError(f"the Docker engine is not reachable: {docker_reason(exc)}", hint=ENGINE_HINT) from exc
    return client


def docker_reason(exc: BaseException) -> str:
    text = redact.scrub(str(getattr(exc, "explanation", None) or exc))
    return " ".join(text.split())[:300]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Health:
    url: str
    status: int | None
    seconds: float


def wait_healthy(
    url: str,
    timeout: float,
    *,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Health:
    """Poll ``url`` until HTTP 200 (success), ``alive()`` turns false, or ``timeout`` passes."""
    start = clock()
    status: int | None = None
    while True:
        try:
            resp = requests.get(url, timeout=min(5.0, max(timeout, 0.1)))
            status = resp.status_code
            if status == 200:
                return Health(url, status, clock() - start)
        except requests.RequestException:
            status = None
        if not alive() or clock() - start >= timeout:
            return Health(url, status, clock() - start)
        sleep(interval)


@dataclass
class Container:
    """A running container and the URL where the host reaches its application."""

    handle: Any
    base_url: str

    def alive(self) -> bool:
        try:
            self.handle.reload()
        except docker.errors.NotFound:
            return False
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise OperationError(
                f"lost track of container {self.name}: {docker_reason(exc)}",
                hint=ENGINE_HINT + "; then rerun",
            ) from exc
        return str(self.handle.status) in ("created", "running", "restarting")

    @property
    def name(self) -> str:
        return str(getattr(self.handle, "name", None) or "?")

    def logs(self, tail: int = 200) -> list[str]:
        try:
            raw = self.handle.logs(tail=tail)
        except docker.errors.APIError:
            return []
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return [redact.scrub(line) for line in text.splitlines()]

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.handle.remove(force=True)


def discard(container: Container, name: str) -> None:
    """Remove ``container`` in a ``finally``: a failure is a warning, never an error that would replace the
    one on its way out (the smoke test's verdict, say)."""
    try:
        container.remove()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        reason = docker_reason(exc)
        log.warning("could not remove container %s: %s; remove it with: docker rm -f %s", name, reason, name)


def start(
    client: Any,
    image: str,
    *,
    name: str,
    network: str,
    container_port: int,
    host_port: int | None = None,
    role: str = "smoke",
    restart: bool = False,
) -> Container:
    """Run ``image`` detached so that the host reaches it on 127.0.0.1 (``host_port`` or a free one).

    With host networking the application is told its port by ``PORT`` (it must honour it) and binds to
    127.0.0.1 only; on a bridge network the container port is published on 127.0.0.1.
    """
    port = host_port or free_port()
    kw: dict[str, Any] = {"detach": True, "name": name, "labels": {LABEL: role}}
    if network == "host":
        kw.update(network_mode="host", environment={"PORT": str(port), "HOST": "127.0.0.1"})
    else:
        kw.update(ports={f"{container_port}/tcp": ("127.0.0.1", port)}, environment={"PORT": str(container_port)})
    if restart:
        kw["restart_policy"] = {"Name": "unless-stopped"}
    # Not containers.run: it pulls a missing image from Docker Hub (so a typo would run someone else's
    # image) and, when the start fails, leaves the created container behind with no handle to remove it.
    try:
        client.images.get(image)
        handle = client.containers.create(image, **kw)
    except docker.errors.ImageNotFound as exc:
        raise PreconditionError(
            f"image {image} not found in the Docker engine", hint="build it first (ca-consume-deploy build)"
        ) from exc
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise OperationError(f"cannot create a container of {image}: {docker_reason(exc)}", hint=ENGINE_HINT) from exc
    try:
        handle.start()
    except BaseException as exc:
        discard(Container(handle, ""), name)
        if isinstance(exc, (docker.errors.APIError, requests.RequestException)):
            raise OperationError(
                f"cannot start {image} as {name}: {docker_reason(exc)}",
                hint=f"is port {port} on 127.0.0.1 taken?" if "port" in str(exc).lower() else None,
            ) from exc
        raise
    return Container(handle, f"http://127.0.0.1:{port}")


@dataclass(frozen=True)
class SmokeResult:
    image: str
    url: str
    status: int | None
    seconds: float


def smoke_test(
    client: Any,
    image: str,
    *,
    path: str = "/healthz",
    timeout: float = 60.0,
    network: str = "host",
    container_port: int = 8080,
    name: str | None = None,
    role: str = "smoke",
    what: str = "smoke test",
    consequence: str = "",
) -> SmokeResult:
    """Run ``image``, poll ``path`` until HTTP 200 or ``timeout``; show its logs on failure; always remove it.

    ``name`` is the container's (a fresh ``ca-smoke-...`` by default) and ``role`` its label; messages call
    the check ``what`` and a failure adds ``consequence`` (what the failure left as it was) to the error.
    """
    validate_network(network)
    if not path.startswith("/"):
        raise ConfigError(f"--smoke-path {path!r}: must start with /")
    name = name or f"ca-smoke-{uuid.uuid4().hex[:10]}"
    with step(f"{what} {image}: GET {path} until HTTP 200 (timeout {timeout:g}s)", log):
        container = start(client, image, name=name, network=network, container_port=container_port, role=role)
        try:
            health = wait_healthy(container.base_url + path, timeout, alive=container.alive)
            if health.status != 200:
                show_logs(container, image)
                got = f"HTTP {health.status}" if health.status else "no answer"
                why = "the container exited" if not container.alive() else f"{got} after {health.seconds:.0f}s"
                raise OperationError(
                    f"{what} of {image} failed: {why} (GET {path})" + (f"; {consequence}" if consequence else ""),
                    hint="see the container logs above; the image must serve HTTP on $PORT",
                )
        finally:
            discard(container, name)
    log.info("%s passed: %s answered 200 in %.1fs", what, path, health.seconds)
    return SmokeResult(image, health.url, health.status, health.seconds)


def show_logs(container: Container, image: str) -> None:
    lines = container.logs()
    log.error("container logs of %s (last %d lines):", image, len(lines))
    for line in lines:
        log.error("  | %s", line)


# ----------------------------------------------------------------------------------- registry + push


@dataclass(frozen=True)
class Registry:
    """Where images go: a host[:port] and, for ECR, the credentials from GetAuthorizationToken."""

    host: str
    auth: dict[str, str] | None = field(default=None, repr=False)
    ecr: bool = False

    def reference(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"


def registry_from_url(url: str) -> Registry:
    """``--registry`` accepts ``host[:port]`` or a URL; Docker wants the bare host."""
    parts = urllib.parse.urlsplit(url if "//" in url else f"//{url}")
    host = (parts.netloc + parts.path).rstrip("/")
    if not host or " " in host:
        raise ConfigError(f"--registry {url!r}: expected host[:port]")
    return Registry(host)


def ecr_login(ecr_client: Any) -> Registry:
    """The account's ECR registry with a 12-hour login from ``get_authorization_token``."""
    import botocore.exceptions

    try:
        resp = ecr_client.get_authorization_token()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise OperationError(
            f"ECR login failed: {exc}",
            hint="the credentials need ecr:GetAuthorizationToken (or pass --registry)",
        ) from exc
    data = resp["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    redact.register(password)
    redact.register(data["authorizationToken"])
    host = urllib.parse.urlsplit(data["proxyEndpoint"]).netloc or data["proxyEndpoint"]
    return Registry(host, {"username": user, "password": password, "serveraddress": host}, ecr=True)


@dataclass(frozen=True)
class PushResult:
    reference: str
    digest: str | None
    attempts: int


class _PushFailed(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


_PERMANENT = re.compile(r"unauthorized|denied|authentication required|name unknown|repository .* not found", re.I)


def push(
    client: Any,
    local: str,
    registry: Registry,
    name: str,
    tag: str,
    *,
    attempts: int = 4,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Tag ``local`` for ``registry`` and push it, retrying transient failures with exponential backoff."""
    reference = registry.reference(name, tag)
    repository = reference.rsplit(":", 1)[0]
    try:
        client.images.get(local).tag(repository, tag)
    except docker.errors.ImageNotFound as exc:
        raise PreconditionError(f"image {local} not found", hint="build it first (ca-consume-deploy build)") from exc
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise OperationError(f"cannot tag {local} as {reference}: {docker_reason(exc)}", hint=ENGINE_HINT) from exc
    attempts = max(1, attempts)
    last = ""
    with step(f"push {reference}", log) as progress:
        for attempt in range(1, attempts + 1):
            try:
                digest = _push_once(client, repository, tag, registry.auth, progress)
            except _PushFailed as exc:
                last = str(exc)
                if exc.permanent:
                    hint = "check the registry credentials (ECR login) and that the repository exists"
                    if registry.ecr and re.search(r"name unknown|does not exist|not found", last, re.I):
                        hint = (
                            f"the ECR repository {name} does not exist; on a first deployment pass --stack and "
                            "--template so the stack that holds it is created before the push"
                        )
                    raise OperationError(f"push of {reference} refused: {last}", hint=hint) from None
                if attempt < attempts:
                    delay = backoff * 2 ** (attempt - 1)
                    log.warning("push attempt %d/%d failed: %s; retrying in %.0fs", attempt, attempts, last, delay)
                    sleep(delay)
                continue
            log.info("pushed %s@%s", reference, digest or "?")
            return PushResult(reference, digest, attempt)
    raise OperationError(
        f"push of {reference} failed after {attempts} attempts: {last}",
        hint=f"check that the registry {registry.host} is up and reachable from the Docker engine",
    )


def _push_once(client: Any, repository: str, tag: str, auth: dict[str, str] | None, progress: Progress) -> str | None:
    digest: str | None = None
    seen: set[tuple[str, str]] = set()
    try:
        for chunk in client.api.push(repository, tag, stream=True, decode=True, auth_config=auth):
            if "error" in chunk:
                message = redact.scrub(str(chunk.get("error")))
                raise _PushFailed(message, permanent=bool(_PERMANENT.search(message)))
            status, layer = str(chunk.get("status", "")), str(chunk.get("id", ""))
            if status and not chunk.get("progressDetail") and (layer, status) not in seen:
                seen.add((layer, status))
                progress.line(f"{layer}: {status}" if layer else status)
            aux = chunk.get("aux") or {}
            digest = aux.get("Digest", digest)
    except docker.errors.APIError as exc:
        reason = docker_reason(exc)
        raise _PushFailed(reason, permanent=bool(_PERMANENT.search(reason))) from None
    except requests.RequestException as exc:
        raise _PushFailed(f"lost the Docker engine: {type(exc).__name__}") from None
    return digest


def pull(client: Any, reference: str, auth: dict[str, str] | None = None) -> str:
    """Pull ``reference`` from its registry (what the local target runs); returns the image id."""
    repository, _, tag = reference.rpartition(":")
    try:
        image = client.images.pull(repository, tag=tag, auth_config=auth)
    except docker.errors.APIError as exc:
        raise OperationError(
            f"cannot pull {reference}: {docker_reason(exc)}", hint="push it first (ca-consume-deploy push)"
        ) from exc
    return str(image.id)
