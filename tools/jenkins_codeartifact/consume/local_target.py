"""The local deploy target: one long-lived container on 127.0.0.1, replaced without downtime.

The previous container keeps serving until a candidate of the new image has passed its health check on a
spare port; a failure after the switch brings the previous one back, so the target is never left down.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import docker.errors
import requests

from .. import signals
from ..console import step
from ..errors import OperationError
from . import cleanup, containers, registry
from .target import DeployResult

log = logging.getLogger(__name__)
STOP_TIMEOUT = 3  # seconds the previous container gets to stop (gunicorn stops in well under one)


def local_name(image_name: str) -> str:
    """Container name of the local target for ``image_name``."""
    return "ca-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", image_name) + "-local"


def deploy_local(
    client: Any,
    reference: str,
    *,
    name: str,
    port: int,
    path: str = "/healthz",
    timeout: float = 60.0,
    network: str = "host",
    container_port: int = 8080,
    auth: dict[str, str] | None = None,
    tag: str = "",
) -> DeployResult:
    """Run ``reference`` (pulled from its registry) as the long-lived container ``name`` on 127.0.0.1:``port``.

    The previous container keeps serving until a candidate of the new image has passed its health check
    on a spare port; only then is it stopped and the new one started on ``port``. If anything fails from
    there on (the port is taken, the engine errs, the new one is unhealthy, the build is aborted), the new
    container is removed and the previous one renamed back and started, so the target is never left down.
    """
    containers.validate_network(network)
    with step(f"deploy {reference} to the local target 127.0.0.1:{port}", log):
        registry.pull(client, reference, auth)
        _remove(client, f"{name}-candidate")  # left over from a crashed run
        # The new image proves itself on a spare port while the previous container keeps serving.
        containers.smoke_test(
            client,
            reference,
            path=path,
            timeout=timeout,
            network=network,
            container_port=container_port,
            name=f"{name}-candidate",
            role="candidate",
            what="health check",
            consequence="the local target still runs the previous one",
        )
        previous = _get(client, name)
        backup = f"{name}-previous"
        # From here on the target is being replaced: whatever fails (the port is taken, the engine errs, the
        # new container is unhealthy, SIGTERM), the new container goes and the previous one comes back.
        # Otherwise a dead container would hold the name and the next deploy would discard the real backup.
        try:
            if previous is not None:
                with signals.deferred():  # set aside and stopped in one go: an abort restores a known state
                    _remove(client, backup)
                    previous.rename(backup)
                    previous.stop(timeout=STOP_TIMEOUT)
            live = containers.start(
                client,
                reference,
                name=name,
                network=network,
                container_port=container_port,
                host_port=port,
                role="local-target",
                restart=True,
            )
            health = containers.wait_healthy(live.base_url + path, timeout, alive=live.alive)
            if health.status != 200:
                containers.show_logs(live, reference)
                raise OperationError(
                    f"{reference} passed its check on a spare port but not on 127.0.0.1:{port}",
                    hint=f"is something else listening on port {port}?"
                    + (" The previous container was restarted" if previous is not None else ""),
                )
        except BaseException:
            _restore(client, name, previous)
            raise
        if previous is not None:
            _remove(client, backup)
    url = f"http://127.0.0.1:{port}/"
    log.info("local target runs %s at %s", reference, url)
    return DeployResult(target="local", image_tag=tag, status="running", changed=True, url=url)


def _restore(client: Any, name: str, previous: Any | None) -> None:
    """Remove the new container ``name`` and put ``previous`` back under that name, running.

    Runs while an error or an abort is on its way out: further signals wait until it is done, and it
    never raises: a failure is logged with the commands that finish the job by hand, and the original
    error stays the one the user sees. Works from whatever point the replacement had reached.
    """
    with signals.deferred():
        try:
            current = _get(client, name)
            if current is not None and (previous is None or current.id != previous.id):
                current.remove(force=True)
                cleanup.note(f"removed the new local target container {name}")
            if previous is None:
                return
            previous.reload()
            if previous.name == name and previous.status == "running":
                return  # the failure came before the previous container was touched
            if previous.name != name:
                previous.rename(name)
            if previous.status != "running":
                previous.start()
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.error("could not restore the previous local target %s: %s", name, containers.docker_reason(exc))
            by_hand = f"docker rm -f {name}; docker rename {name}-previous {name}; docker start {name}"
            log.error("  restore it by hand: %s", by_hand)
            return
        cleanup.note(f"restored the previous local target {name}")
        log.warning("the previous container %s runs again", name)


def _get(client: Any, name: str) -> Any | None:
    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def _remove(client: Any, name: str) -> bool:
    container = _get(client, name)
    if container is None:
        return False
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True)
    return True


def teardown_local(client: Any, name: str) -> dict[str, Any]:
    """Stop and remove the local target (and any candidate or backup a crashed deploy left behind)."""
    removed = [n for n in (name, f"{name}-candidate", f"{name}-previous") if _remove(client, n)]
    log.info("local target %s: %s", name, "removed" if removed else "not running")
    return {"container": name, "removed": removed}
