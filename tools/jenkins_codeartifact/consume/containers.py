"""Containers on the local Docker engine: the engine itself, running an image, health polling, the smoke test.

Through the docker SDK (structured errors, no output parsing). Containers are created and started in two
steps, never with ``containers.run``: that would pull a missing image from Docker Hub and, when the start
fails, leave the created container behind with no handle to remove it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests

from .. import redact, signals
from ..console import step
from ..errors import ConfigError, OperationError, PreconditionError
from . import cleanup, smoke

log = logging.getLogger(__name__)

LABEL = "io.github.jenkins-codeartifact.role"
NETWORKS = ("host", "bridge")
ENGINE_HINT = "start the Docker engine (or set DOCKER_HOST) and check this user may use its socket"


def validate_network(network: str) -> str:
    if network not in NETWORKS:
        raise ConfigError(f"--network {network!r}: must be one of {', '.join(NETWORKS)}")
    return network


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


Health = smoke.Health


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

    def exit_code(self) -> int | None:
        """The exit code of a container that stopped (as of the last :meth:`alive`), else None."""
        state = (getattr(self.handle, "attrs", None) or {}).get("State") or {}
        code = state.get("ExitCode")
        return int(code) if isinstance(code, int) and not state.get("Running") else None

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
    one on its way out (the smoke test's verdict, say); an abort arriving meanwhile waits for it."""
    with signals.deferred():
        try:
            container.remove()
        except (docker.errors.DockerException, requests.RequestException) as exc:
            reason = docker_reason(exc)
            log.warning("could not remove container %s: %s; remove it with: docker rm -f %s", name, reason, name)


def remove_named(client: Any, name: str) -> bool:
    """Remove the container called ``name`` if there is one (whether or not this process got its handle:
    an abort may land between the engine creating it and the call returning). Never raises."""
    with signals.deferred():
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            return False
        except (docker.errors.DockerException, requests.RequestException) as exc:
            reason = docker_reason(exc)
            log.warning("could not remove container %s: %s; remove it with: docker rm -f %s", name, reason, name)
            return False
    return True


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
    volumes: dict[str, dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
) -> Container:
    """Run ``image`` detached so that the host reaches it on 127.0.0.1 (``host_port`` or a free one).

    With host networking the application is told its port by ``PORT`` (it must honour it) and binds to
    127.0.0.1 only; on a bridge network the container port is published on 127.0.0.1.
    """
    port = host_port or free_port()
    kw: dict[str, Any] = {"detach": True, "name": name, "labels": {**(labels or {}), LABEL: role}}
    if network == "host":
        kw.update(network_mode="host", environment={"PORT": str(port), "HOST": "127.0.0.1"})
    else:
        kw.update(ports={f"{container_port}/tcp": ("127.0.0.1", port)}, environment={"PORT": str(container_port)})
    if restart:
        kw["restart_policy"] = {"Name": "unless-stopped"}
    if volumes:
        kw["volumes"] = volumes
    # Not containers.run (see the module docstring): a typo would run someone else's image.
    try:
        client.images.get(image)
        # An abort waits for the engine's answer: interrupted, the engine would still create the container
        # after our cleanup had looked for it, and it would stay behind.
        with signals.deferred():
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
    """What the report's ``smoke_test`` holds, passed or not: the last answer and how long it took."""

    image: str
    url: str
    status: int | None
    elapsed: float
    path: str = ""
    outcome: str = smoke.PASSED
    answer: str = ""
    listens_beyond_loopback: str | None = None  # an agent address where the app answered too (host network)


class SmokeFailed(OperationError):
    """A smoke test that did not pass; ``result`` is what the report records."""

    def __init__(self, message: str, hint: str, result: SmokeResult) -> None:
        super().__init__(message, hint=hint)
        self.result = result


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
    """Run ``image``, poll ``path`` until HTTP 200, a final answer or ``timeout``; always remove it.

    ``name`` is the container's (a fresh ``ca-smoke-...`` by default) and ``role`` its label; messages call
    the check ``what`` and a failure (:class:`SmokeFailed`, with the logs shown) adds ``consequence``
    (what the failure left as it was) to the error.
    """
    validate_network(network)
    if not path.startswith("/"):
        raise ConfigError(f"--smoke-path {path!r}: must start with /")
    name = name or f"ca-smoke-{uuid.uuid4().hex[:10]}"
    with step(f"{what} {image}: GET {path} until HTTP 200 (timeout {timeout:g}s)", log):
        passed = False
        try:
            container = start(client, image, name=name, network=network, container_port=container_port, role=role)
            health = smoke.poll(container.base_url + path, timeout, alive=container.alive)
            result = SmokeResult(image, health.url, health.status, round(health.seconds, 3), path, health.outcome)
            if health.status != 200:
                raise_unhealthy(container, image, health, result, network, what, consequence)
            beyond = _beyond_loopback(container, network)
            passed = True
        finally:
            if remove_named(client, name) and not passed:
                cleanup.note(f"removed the {what} container {name}")
    log.info("%s passed: %s answered 200 in %.1fs", what, path, health.seconds)
    return dataclasses.replace(result, listens_beyond_loopback=beyond)


def raise_unhealthy(
    container: Container, image: str, health: Health, result: SmokeResult, network: str, what: str, consequence: str
) -> None:
    """Show the container's logs and raise :class:`SmokeFailed` with the cause and the TIP for ``health``."""
    exited = not container.alive()
    port = container.base_url.rsplit(":", 1)[1]
    where = f"$HOST:$PORT (here 127.0.0.1:{port})" if network == "host" else "0.0.0.0 and --container-port"
    lines = show_logs(container, image)
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    hint = smoke.tip(health, exited=exited, exit_code=container.exit_code(), path=result.path, port_note=where)
    if exited and last:
        hint += f"; its last line: {last[:200]}"
    outcome = smoke.EXITED if exited else health.outcome
    message = f"{what} of {image} failed: {smoke.verdict(health, exited=exited)} (GET {result.path})"
    raise SmokeFailed(
        message + (f"; {consequence}" if consequence else ""),
        hint=hint,
        result=dataclasses.replace(result, outcome=outcome, answer=health.answer),
    )


def _beyond_loopback(container: Container, network: str) -> str | None:
    """On the host network, warn when the application ignores ``$HOST`` and listens on every interface."""
    if network != "host":
        return None
    port = int(container.base_url.rsplit(":", 1)[1])
    address = smoke.reachable_beyond_loopback(port)
    if address is not None:
        log.warning(
            "the application ignores $HOST=127.0.0.1: it answers on %s:%d too, reachable from this agent's "
            "network; bind to $HOST (gunicorn: bind = f\"{os.environ['HOST']}:{os.environ['PORT']}\")",
            address,
            port,
        )
    return address


def show_logs(container: Container, image: str) -> list[str]:
    """Log the container's last lines (scrubbed) as ERROR lines; returns them."""
    lines = container.logs()
    log.error("container logs of %s (last %d lines):", image, len(lines))
    for line in lines:
        log.error("  | %s", line)
    return lines
