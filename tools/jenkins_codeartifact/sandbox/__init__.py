"""Local stand-ins for CodeArtifact, AWS, a registry and Docker, so every command runs without an account.

``up(DIR)`` starts, on 127.0.0.1: devpi-server (the package store), the CodeArtifact API stand-in in
front of it, moto (ECR, ECS, CloudFormation, IAM, EC2, ELBv2, STS...), Debian's docker-registry and,
with ``docker=True``, makes sure a Docker engine and a local base image exist. It returns the
environment that points boto3, the toolkit's CLIs and the tests at them, and writes it to
``DIR/env.sh``. Everything it starts is recorded in ``DIR/<service>.pid``; ``down(DIR)`` stops exactly
those processes. Calling ``up`` again reuses what still runs.

Layout of DIR: ``state.json`` (ports, access key), ``secrets.json`` (0600: devpi passwords, the fake
secret key), ``env.sh``, ``<service>.pid``/``<service>.log``, ``devpi/``, ``registry/``, ``docker/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets as _secrets
import shlex
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .. import files, redact
from ..errors import ConfigError, OperationError
from . import devpi, dockerd
from .process import PROBE_TIMEOUT, Service, free_port_numbers, port_free

log = logging.getLogger(__name__)

DOMAIN = "my-domain"
DOMAIN_OWNER = "111122223333"
REPOSITORY = "my-repository"
REGION = "us-east-1"
# boto3's AWS_ENDPOINT_URL_<SERVICE ID> names for what moto serves here (checked against botocore).
MOTO_SERVICES = ("ECR", "ECS", "CLOUDFORMATION", "IAM", "EC2", "ELASTIC_LOAD_BALANCING_V2", "STS", "CLOUDWATCH_LOGS")
SERVICES = ("devpi", "codeartifact", "moto", "registry")
READY_TIMEOUT = {"devpi": 90.0, "codeartifact": 30.0, "moto": 60.0, "registry": 30.0, "dockerd": 60.0}


@dataclass(frozen=True)
class Ports:
    """Where each service listens; the defaults suit one developer, tests ask :func:`free_ports`."""

    devpi: int = 3141
    codeartifact: int = 3142
    moto: int = 5000
    registry: int = 5001


def free_ports() -> Ports:
    """Ports that are free right now, for a sandbox that must not collide with anybody else's."""
    return Ports(*free_port_numbers(len(dataclasses.fields(Ports))))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable sandbox state: {exc}", hint=f"run down, then remove {path}") from exc


def _write_json(path: Path, data: dict[str, Any], private: bool = False) -> None:
    files.write(path, json.dumps(data, indent=2, sort_keys=True), private=private)


def _secrets_for(directory: Path) -> dict[str, str]:
    """Random per-sandbox secrets, created once and kept 0600: the devpi passwords are the tokens."""
    path = directory / "secrets.json"
    data = {k: str(v) for k, v in _read_json(path).items()}
    alphabet = string.ascii_letters + string.digits

    def token(chars: str, n: int) -> str:
        return "".join(_secrets.choice(chars) for _ in range(n))

    wanted = {
        "aws_password": token(alphabet, 40),
        "root_password": token(alphabet, 40),
        "aws_access_key_id": "AKIA" + token(string.ascii_uppercase + "234567", 16),
        "aws_secret_access_key": token(alphabet + "/+", 40),
    }
    missing = {k: v for k, v in wanted.items() if k not in data}
    if missing:
        data.update(missing)
        _write_json(path, data, private=True)
    for key in ("aws_password", "root_password"):
        redact.register(data[key])
    return data


def _environment(ports: Ports, directory: Path, creds: dict[str, str]) -> dict[str, str]:
    moto = f"http://127.0.0.1:{ports.moto}"
    env = {
        "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": moto,  # anything not listed below goes to moto too, never to real AWS
        "AWS_ENDPOINT_URL_CODEARTIFACT": f"http://127.0.0.1:{ports.codeartifact}",
        **{f"AWS_ENDPOINT_URL_{service}": moto for service in MOTO_SERVICES},
        "CA_DOMAIN": DOMAIN,
        "CA_DOMAIN_OWNER": DOMAIN_OWNER,
        "CA_REPOSITORY": REPOSITORY,
        "CA_REGISTRY": f"127.0.0.1:{ports.registry}",
        "CA_SANDBOX_DIR": str(directory),
        "CA_SANDBOX_DEVPI_URL": f"http://127.0.0.1:{ports.devpi}",
        "CA_SANDBOX_INDEX_URL": f"http://127.0.0.1:{ports.devpi}/{devpi.USER}/{devpi.INDEX}/",
        # devpi's simple index is +simple/; its simple/ is not an index (a redirect to a project page)
        "CA_SANDBOX_SIMPLE_URL": f"http://127.0.0.1:{ports.devpi}/{devpi.USER}/{devpi.INDEX}/+simple/",
    }
    return env


def _http_ok(url: str, *statuses: int) -> bool:
    return requests.get(url, timeout=PROBE_TIMEOUT).status_code in (statuses or (200,))


def _registry_config(directory: Path, port: int) -> Path:
    storage = directory / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    config = directory / "registry.yml"
    files.write(
        config,
        "version: 0.1\n"
        "log:\n  level: info\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {json.dumps(str(storage))}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n",
    )
    return config


def _start(name: str, directory: Path, ports: Ports, creds: dict[str, str]) -> Service:
    """Start service ``name`` unless its recorded process still runs."""
    service = Service(name, directory)
    port: int = getattr(ports, name)
    pid = service.pid()
    if pid is not None:
        log.info("%s already running (pid %d)", name, pid)
        return service
    if name == "devpi":
        serverdir = directory / "devpi" / "server"
        devpi.init(serverdir, creds["root_password"])
        pid = devpi.start(service, serverdir, port)
    elif name == "codeartifact":
        pid = service.start(
            [
                sys.executable,
                "-m",
                "jenkins_codeartifact.sandbox.codeartifact_api",
                "--port",
                str(port),
                "--devpi-url",
                f"http://127.0.0.1:{ports.devpi}",
                "--secrets",
                str(directory / "secrets.json"),
                "--access-key-id",
                creds["aws_access_key_id"],
                "--domain",
                DOMAIN,
                "--domain-owner",
                DOMAIN_OWNER,
                "--region",
                REGION,
                *(
                    arg
                    for repo in (devpi.INDEX, *devpi.PROMOTION)
                    for arg in ("--repository", f"{repo}={devpi.USER}/{repo}")
                ),
                "--package-group",  # infra/codeartifact.yml's default InternalPackagePattern
                "/pypi//fantastic-ascii$",
            ]
        )
    elif name == "moto":
        # moto models no ECS rollout: with this its services start with every task running and the PRIMARY
        # deployment COMPLETED (what ECS reports once a rollout is done), so a deploy can follow it to the end.
        env = {**os.environ, "MOTO_ECS_SERVICE_RUNNING": "1"}
        pid = service.start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env)
    elif name == "registry":
        binary = "/usr/bin/docker-registry"
        if not Path(binary).exists():
            raise OperationError("docker-registry is not installed", hint="apt-get install docker-registry")
        pid = service.start([binary, "serve", str(_registry_config(directory, port))])
    log.info("started %s on 127.0.0.1:%d (pid %s)", name, port, pid)
    return service


def _ready_check(name: str, ports: Ports) -> tuple[str, Any]:
    base = f"http://127.0.0.1:{getattr(ports, name)}"
    checks = {
        "devpi": (f"{base}/+api", lambda: devpi.ready(base)),
        # unsigned requests get a 403 from the stand-in, which proves it is this server that answers
        "codeartifact": (f"{base}/v1/", lambda: _http_ok(f"{base}/v1/", 403)),
        "moto": (f"{base}/moto-api/", lambda: _http_ok(f"{base}/moto-api/")),
        "registry": (f"{base}/v2/", lambda: _http_ok(f"{base}/v2/")),
    }
    return checks[name]


def up(
    directory: Path,
    *,
    docker: bool = False,
    ports: Ports | None = None,
    pick_free: bool = False,
    timeout: float | None = None,
) -> dict[str, str]:
    """Start (or reuse) every service, wait until each answers, write ``DIR/env.sh``; return its variables.

    ``ports`` defaults to those recorded by an earlier ``up`` in DIR, else :class:`Ports`' defaults;
    ``pick_free`` (``--free-ports``) keeps the recorded ports while a service of DIR runs on them or
    they are free, and picks free ones otherwise. A running service keeps its port: asking for another
    one is an error until ``down``.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    state = _read_json(directory / "state.json")
    recorded = Ports(**state["ports"]) if "ports" in state else None
    if ports is None and pick_free:
        ports = recorded if recorded and _reusable(recorded, directory) else free_ports()
    wanted = ports or recorded or Ports()
    if recorded and recorded != wanted:
        busy = [n for n in SERVICES if getattr(recorded, n) != getattr(wanted, n) and Service(n, directory).pid()]
        if busy:
            raise ConfigError(
                f"{', '.join(busy)} already running in {directory} on other ports ({recorded})",
                hint=f"run down --dir {directory} first, or keep the recorded ports",
            )
    creds = _secrets_for(directory)
    state["ports"] = dataclasses.asdict(wanted)
    _write_json(directory / "state.json", state)

    # Check every port first: a health check on a port someone else holds would be answered by them.
    busy = [
        f"{name} ({getattr(wanted, name)})"
        for name in SERVICES
        if Service(name, directory).pid() is None and not port_free(getattr(wanted, name))
    ]
    if busy:
        raise OperationError(
            f"port already in use by another process: {', '.join(busy)}",
            hint="pick free ports (ca-sandbox up --free-ports) or stop what listens there",
        )
    services = [_start(name, directory, wanted, creds) for name in SERVICES]
    for service in services:
        what, check = _ready_check(service.name, wanted)
        service.wait_ready(check, what, timeout or READY_TIMEOUT[service.name])
    devpi.configure(f"http://127.0.0.1:{wanted.devpi}", creds["root_password"], creds["aws_password"])

    env = _environment(wanted, directory, creds)
    if docker or state.get("docker_host"):  # once up with Docker, a later plain ``up`` keeps it
        env.update(_docker(directory, state, timeout))
        _write_json(directory / "state.json", state)
    write_env(directory, env)
    return env


def _reusable(ports: Ports, directory: Path) -> bool:
    """True if each of ``ports`` is held by this sandbox's own service or free for it."""
    return all(Service(n, directory).pid() is not None or port_free(getattr(ports, n)) for n in SERVICES)


def _docker(directory: Path, state: dict[str, Any], timeout: float | None) -> dict[str, str]:
    """An engine (the running one, or our own dockerd) and the base image; the variables that name them."""
    service = Service("dockerd", directory)
    host: str | None
    if service.pid() is not None:
        host = str(state.get("docker_host") or f"unix://{dockerd.dockerd_paths(directory)['socket']}")
    else:
        host = dockerd.existing_host()
        if host is None:
            host = dockerd.start_dockerd(service, directory)
            log.info("started dockerd at %s (pid %s)", host, service.pid())
    try:
        service.wait_ready(lambda: dockerd.ping(host), host, timeout or READY_TIMEOUT["dockerd"])
    except OperationError as exc:
        raise dockerd.DockerUnavailable(exc.message, hint=exc.hint) from exc
    state["docker_host"] = host
    env = {"DOCKER_HOST": host, "CA_BASE_IMAGE": dockerd.ensure_base_image(host)}
    if docker_cli := dockerd.cli():
        env["CA_DOCKER_CLI"] = docker_cli
    return env


def write_env(directory: Path, env: dict[str, str]) -> Path:
    """``DIR/env.sh``, readable by its owner only: the fake AWS key in it can mint index tokens."""
    path = directory / "env.sh"
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    text = "# generated by ca-sandbox up; source it: . " + shlex.quote(str(path)) + "\n" + "\n".join(lines) + "\n"
    return files.write(path, text, private=True)


def env_text(directory: Path) -> str:
    """The text of ``DIR/env.sh`` (``export NAME=value`` lines), or an error if the sandbox is not up."""
    path = directory.resolve() / "env.sh"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no sandbox environment at {path}", hint="run ca-sandbox up first") from None


def read_env(directory: Path) -> dict[str, str]:
    """The variables of ``DIR/env.sh`` (what :func:`up` returned), or an error if the sandbox is not up."""
    env: dict[str, str] = {}
    for line in env_text(directory).splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def running(directory: Path) -> dict[str, int]:
    """Recorded services whose process still runs, by name."""
    directory = directory.resolve()
    found = {}
    for name in (*SERVICES, "dockerd"):
        pid = Service(name, directory).pid()
        if pid is not None:
            found[name] = pid
    return found


def down(directory: Path) -> None:
    """Stop exactly the processes ``up`` recorded in DIR (dockerd only if the sandbox started it)."""
    directory = directory.resolve()
    if not directory.is_dir():
        return
    for name in ("codeartifact", "devpi", "moto", "registry", "dockerd"):
        service = Service(name, directory)
        if service.stop(timeout=30.0 if name == "dockerd" else 15.0):
            log.info("stopped %s", name)
            if name == "dockerd":
                dockerd.release_mounts(directory)
    with contextlib.suppress(FileNotFoundError):
        (directory / "env.sh").unlink()
    state = _read_json(directory / "state.json")
    if state.pop("docker_host", None) is not None:
        _write_json(directory / "state.json", state)


__all__ = [
    "DOMAIN",
    "DOMAIN_OWNER",
    "REGION",
    "REPOSITORY",
    "Ports",
    "down",
    "env_text",
    "free_ports",
    "read_env",
    "running",
    "up",
]
