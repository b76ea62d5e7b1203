"""The local deploy target: long-lived containers on spare ports, behind a TCP proxy that owns the real port.

A candidate of the new image starts next to the running container and must answer 200 on the smoke path;
only then is the proxy (:mod:`.proxy`) switched to it, with one atomic write, and the previous container
stopped. So the page answers throughout however slowly the application starts. Until the switch is
confirmed through the real port, any failure (or an abort) points the proxy back at the previous
container, which was never stopped. Containers are named ``<name>-<id>`` and labelled with ``<name>``;
the proxy's state file says which one is live.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests

from .. import signals
from ..console import step
from ..errors import ConfigError, OperationError
from ..settings import Settings
from . import cleanup, containers, proxy, registry, smoke
from .target import DeployResult

log = logging.getLogger(__name__)
STOP_TIMEOUT = 3  # seconds the previous container gets to finish its requests (gunicorn needs well under one)
VERIFY_TIMEOUT = 10.0  # seconds the new container gets to answer through the proxy after the switch
TARGET_LABEL = "io.github.jenkins-codeartifact.local-target"


def local_name(image_name: str) -> str:
    """Base name of the local target's containers for ``image_name``."""
    return "ca-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", image_name) + "-local"


def state_file(state_dir: str | None, name: str) -> Path:
    """Where the proxy of the target ``name`` keeps its state: ``--local-state-dir`` or the XDG state home."""
    if state_dir:
        return Path(state_dir) / f"{name}.json"
    home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return home / "jenkins-codeartifact" / "local-target" / f"{name}.json"


def parse_volumes(values: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--local-volume SOURCE:TARGET[:ro|rw]`` into the docker SDK's form; a named volume or a host path."""
    out: dict[str, dict[str, str]] = {}
    for item in values:
        parts = item.split(":")
        mode = parts.pop() if len(parts) == 3 else "rw"
        if len(parts) != 2 or not all(parts) or mode not in ("ro", "rw") or not parts[1].startswith("/"):
            raise ConfigError(
                f"--local-volume {item!r}: expected SOURCE:TARGET[:ro]",
                hint="e.g. --local-volume app-data:/data (a named volume) or ./uploads:/app/uploads:ro",
            )
        source = parts[0]
        if "/" in source or source.startswith("."):
            source = str(Path(source).resolve())  # a host directory; the engine wants it absolute
        out[source] = {"bind": parts[1], "mode": mode}
    return out


@dataclass(frozen=True)
class LocalTarget:
    """Where and how the local target runs (the deploy's options)."""

    name: str
    port: int
    state: Path
    path: str = "/healthz"
    timeout: float = 60.0
    network: str = "host"
    container_port: int = 8080
    volumes: dict[str, dict[str, str]] | None = None


def from_settings(s: Settings) -> LocalTarget:
    """The local target of ``--image-name`` with the smoke and local-target options."""
    name = local_name(s.image_name)
    return LocalTarget(
        name,
        s.local_port,
        state_file(s.local_state_dir, name),
        path=s.smoke_path,
        timeout=s.smoke_timeout,
        network=s.network,
        container_port=s.container_port,
        volumes=parse_volumes(s.local_volumes),
    )


def deploy_local(
    client: Any, reference: str, target: LocalTarget, *, auth: dict[str, str] | None = None, tag: str = ""
) -> DeployResult:
    """Run ``reference`` (pulled from its registry) as the local target, switching the proxy to it once healthy."""
    containers.validate_network(target.network)
    url = f"http://127.0.0.1:{target.port}/"
    with step(f"deploy {reference} to the local target {url}", log):
        registry.pull(client, reference, auth)
        before = proxy.running(target.state)
        _remove_strays(client, target, keep=before.container if before else None)
        candidate = _candidate(client, reference, target)
        undo = _plan(client, target, before)  # what to take back, known before anything changes
        try:
            with signals.deferred():  # switched in one go: an abort restores a known state
                _switch(target, undo, before, candidate)
            verify = f"http://127.0.0.1:{target.port}{target.path}"
            health = smoke.poll(verify, VERIFY_TIMEOUT)
            if health.status != 200:
                raise OperationError(
                    f"{reference} passed its check on a spare port but not through 127.0.0.1:{target.port} "
                    f"({health.answer or 'no answer'})",
                    hint=f"is something else listening on port {target.port}?"
                    + (" The previous container serves again" if undo.previous_backend or undo.legacy else ""),
                )
        except BaseException:
            _restore(client, target, candidate, undo)
            raise
        _retire(client, target, candidate.name)
    log.info("local target runs %s at %s (container %s)", reference, url, candidate.name)
    return DeployResult(target="local", image_tag=tag, status="running", changed=True, url=url)


def _candidate(client: Any, reference: str, target: LocalTarget) -> containers.Container:
    """The new container, healthy on a spare port (removed, with its logs shown, if it is not)."""
    name = f"{target.name}-{uuid.uuid4().hex[:8]}"
    what = f"health check {reference}: GET {target.path} until HTTP 200 (timeout {target.timeout:g}s)"
    with step(what, log):
        ok = False
        try:
            candidate = containers.start(
                client,
                reference,
                name=name,
                network=target.network,
                container_port=target.container_port,
                role="local-target",
                restart=True,
                volumes=target.volumes,
                labels={TARGET_LABEL: target.name},
            )
            url = candidate.base_url + target.path
            health = smoke.poll(url, target.timeout, alive=candidate.alive)
            if health.status != 200:
                result = containers.SmokeResult(reference, health.url, health.status, health.seconds, target.path)
                consequence = "the local target still runs the previous one"
                containers.raise_unhealthy(
                    candidate, reference, health, result, target.network, "health check", consequence
                )
            ok = True
        finally:
            if not ok and containers.remove_named(client, name):
                cleanup.note(f"removed the health check container {name}")
    log.info("health check passed: %s answered 200 in %.1fs on %s", target.path, health.seconds, candidate.base_url)
    return candidate


@dataclass(frozen=True)
class _Undo:
    """What the switch is about to do, so that a failure at any point of it can take it back."""

    previous_backend: proxy.State | None = None  # a running proxy is switched (back to this)
    legacy: Any = None  # a container of the pre-proxy layout that holds the port itself: stopped, restarted


def _plan(client: Any, target: LocalTarget, before: proxy.State | None) -> _Undo:
    if before is not None and before.port == target.port:
        return _Undo(previous_backend=before)
    return _Undo(legacy=_get(client, target.name))


def _switch(target: LocalTarget, undo: _Undo, before: proxy.State | None, candidate: containers.Container) -> None:
    backend = candidate.base_url.removeprefix("http://")
    if undo.previous_backend is not None:
        proxy.switch(target.state, backend, candidate.name)
        log.info("proxy 127.0.0.1:%d -> %s (%s)", target.port, backend, candidate.name)
        return
    if before is not None:  # --local-port changed: the old proxy goes, a new one takes the new port
        proxy.stop(target.state)
    if undo.legacy is not None:
        log.warning("local target: %s held port %d itself; stopping it for the proxy (once)", target.name, target.port)
        undo.legacy.stop(timeout=STOP_TIMEOUT)
    proxy.start(target.state, target.port, backend, candidate.name)
    log.info("proxy 127.0.0.1:%d -> %s (%s), started", target.port, backend, candidate.name)


def _restore(client: Any, target: LocalTarget, candidate: containers.Container, undo: _Undo) -> None:
    """Take the switch back and remove the candidate; never raises (the original error is the one shown)."""
    with signals.deferred():
        try:
            if undo.previous_backend is not None:
                prev = undo.previous_backend
                proxy.switch(target.state, prev.backend, prev.container)
            else:
                proxy.stop(target.state)
                if undo.legacy is not None:
                    undo.legacy.reload()
                    if undo.legacy.status != "running":
                        undo.legacy.start()
            if containers.remove_named(client, candidate.name):
                cleanup.note(f"removed the new local target container {candidate.name}")
        except (OSError, OperationError, docker.errors.DockerException, requests.RequestException) as exc:
            log.error("could not restore the previous local target %s: %s", target.name, exc)
            log.error("  restore it by hand: ca-consume-deploy teardown --target local, then deploy the previous tag")
            return
        if undo.previous_backend is not None or undo.legacy is not None:
            cleanup.note(f"restored the previous local target {target.name}")
            log.warning("the previous container of %s serves again", target.name)


def _retire(client: Any, target: LocalTarget, live: str) -> None:
    """Stop and remove every container of the target but ``live`` (the previous one finishes its requests)."""
    with signals.deferred():
        for container in [*_members(client, target.name), _get(client, target.name)]:
            if container is not None and container.name != live:
                _stop_and_remove(container)


def _remove_strays(client: Any, target: LocalTarget, keep: str | None) -> None:
    """Candidates a crashed run left behind (anything but the container the proxy serves)."""
    for container in _members(client, target.name):
        if keep is not None and container.name != keep:
            log.info("removing %s, left behind by an earlier deploy", container.name)
            _stop_and_remove(container)


def _members(client: Any, name: str) -> list[Any]:
    try:
        return list(client.containers.list(all=True, filters={"label": f"{TARGET_LABEL}={name}"}))
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise OperationError(f"cannot list the local target's containers: {containers.docker_reason(exc)}") from exc


def _stop_and_remove(container: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        try:
            container.stop(timeout=STOP_TIMEOUT)
            container.remove(force=True)
        except (docker.errors.APIError, requests.RequestException) as exc:
            log.warning("could not remove %s: %s; remove it with: docker rm -f %s", container.name, exc, container.name)


def _get(client: Any, name: str) -> Any | None:
    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def teardown_local(client: Any, name: str, state: Path) -> dict[str, Any]:
    """Stop the proxy and remove every container of the local target (and a pre-proxy one)."""
    pid = proxy.stop(state)
    removed = []
    for container in [*_members(client, name), _get(client, name)]:
        if container is not None and container.name not in removed:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
            removed.append(container.name)
    log.info("local target %s: %s", name, "removed" if removed or pid else "not running")
    return {"container": name, "removed": removed, "proxy_pid": pid}
