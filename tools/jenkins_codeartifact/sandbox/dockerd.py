"""A Docker engine and a local base image, for the image build and smoke-test stages.

Base images cannot be pulled here, so one is made from Debian packages (mmdebstrap) and imported once;
the root filesystem tarball is cached per user so the next sandbox only pays for ``docker import``.
When no engine answers, a private dockerd is started inside the sandbox directory (root only), with
no iptables and no bridge so it cannot disturb the host's networking: containers then need host
networking (``--network host``) to reach the sandbox services. It uses overlay2 where an overlay mount
works, else vfs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OperationError, PreconditionError
from ..settings import cache_dir
from .process import Service

log = logging.getLogger(__name__)

BASE_IMAGE = "jenkins-codeartifact/base:bookworm"
DEBIAN_CLI = Path("/usr/bin/docker")  # Debian's CLI drives BuildKit; a newer CLI on PATH may not
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
_SOCKET_MAX = 100  # unix socket paths are limited to 108 bytes; containerd nests deeper than ours


class DockerUnavailable(PreconditionError):
    """No engine answers and none could be started: tests that need Docker skip on this (unless CI requires it)."""


def ping(host: str | None) -> bool:
    """True if an engine answers at ``host`` (None: the environment's DOCKER_HOST or the default socket)."""
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=5) if host else docker.from_env(timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def existing_host() -> str | None:
    """The DOCKER_HOST of an engine that already answers, or None."""
    candidates = [os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"]
    return next((host for host in candidates if host and ping(host)), None)


def dockerd_paths(directory: Path) -> dict[str, Path]:
    """Where our dockerd keeps its state; exec-root moves to /tmp when DIR is too deep for its sockets."""
    root = directory / "docker"
    exec_root = root / "exec"
    if len(str(exec_root / "containerd" / "containerd.sock.ttrpc")) > _SOCKET_MAX:
        digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:10]
        exec_root = Path(tempfile.gettempdir()) / f"jca-docker-{digest}"
    return {
        "data": root / "data",
        "exec": exec_root,
        "pidfile": root / "dockerd.pid",
        "socket": directory / "docker.sock",
    }


def release_mounts(directory: Path) -> None:
    """Unmount what a stopped dockerd of ours left mounted (its netns, overlay layers), deepest first.

    dockerd leaves ``exec/netns/default`` mounted when it exits; until it is unmounted the directory
    cannot be removed (a test's tmp dir, ``rm -rf .sandbox``).
    """
    paths = dockerd_paths(directory)
    roots = [str(paths["exec"]), str(paths["data"])]
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            points = [line.split()[1].replace("\\040", " ") for line in fh]
    except OSError:
        return
    for point in sorted((p for p in points if any(p == r or p.startswith(r + "/") for r in roots)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def storage_driver(data_root: Path) -> str:
    """overlay2 where the kernel and filesystem allow an overlay mount, else vfs.

    With vfs every layer is a full copy of the root filesystem, so a one-line code change costs a copy of
    the whole 230 MB image; with overlay2 it costs the changed files. Probing takes a mount and an umount.
    """
    probe = Path(tempfile.mkdtemp(prefix=".overlay-probe-", dir=data_root))
    try:
        dirs = {name: probe / name for name in ("lower", "upper", "work", "merged")}
        for path in dirs.values():
            path.mkdir()
        options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
        mount = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(dirs["merged"])], capture_output=True, check=False
        )
        if mount.returncode != 0:
            return "vfs"
        subprocess.run(["umount", str(dirs["merged"])], capture_output=True, check=False)
        return "overlay2"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def start_dockerd(service: Service, directory: Path) -> str:
    """Start a private dockerd; returns its DOCKER_HOST. Needs root and the dockerd binary."""
    binary = shutil.which("dockerd")
    if binary is None:
        raise DockerUnavailable(
            "no Docker engine answers and dockerd is not installed",
            hint="start Docker (or set DOCKER_HOST to one), or install docker.io",
        )
    if os.geteuid() != 0:
        raise DockerUnavailable(
            "no Docker engine answers, and starting a private dockerd needs root",
            hint="start Docker and make its socket reachable (DOCKER_HOST), or run as root",
        )
    paths = dockerd_paths(directory)
    for key in ("data", "exec"):
        paths[key].mkdir(parents=True, exist_ok=True)
    paths["socket"].unlink(missing_ok=True)
    host = f"unix://{paths['socket']}"
    service.start(
        [
            binary,
            "--iptables=false",
            "--ip-masq=false",
            "--bridge=none",
            f"--storage-driver={storage_driver(paths['data'])}",
            f"--data-root={paths['data']}",
            f"--exec-root={paths['exec']}",
            f"--pidfile={paths['pidfile']}",
            f"--host={host}",
        ]
    )
    return host


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time across processes: two sessions must not both run mmdebstrap."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rootfs_tarball(suite: str = "bookworm") -> Path:
    """The cached root filesystem tarball, built with mmdebstrap the first time (a minute or so)."""
    target = cache_dir() / f"base-{suite}.tar"
    with _locked(cache_dir() / ".lock"):
        if target.exists():
            return target
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            raise PreconditionError(
                f"image {BASE_IMAGE} is missing and mmdebstrap is not installed to build it",
                hint="apt-get install mmdebstrap, or load a Debian image and tag it " + BASE_IMAGE,
            )
        log.info("building %s root filesystem with mmdebstrap (cached in %s)", suite, target)
        partial = target.with_name(f".{target.stem}.partial.tar")  # mmdebstrap picks the format by suffix
        result = subprocess.run(
            [mmdebstrap, "--variant=apt", "--include=" + ",".join(PACKAGES), suite, str(partial)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise OperationError(
                f"mmdebstrap failed: {result.stderr.strip()[-800:]}",
                hint="check access to the Debian mirror (deb.debian.org)",
            )
        os.replace(partial, target)
        return target


def ensure_base_image(host: str, tag: str = BASE_IMAGE) -> str:
    """Make sure ``tag`` exists in the engine at ``host``; import it from the cached tarball if not."""
    import docker

    client = docker.DockerClient(base_url=host, timeout=600)
    try:
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        tarball = rootfs_tarball()
        repository, _, version = tag.rpartition(":")
        log.info("importing %s into Docker as %s", tarball, tag)
        try:
            client.api.import_image_from_file(
                str(tarball),
                repository=repository,
                tag=version,
                changes=['CMD ["/bin/bash"]', "ENV LANG=C.UTF-8"],
            )
            client.images.get(tag)
        except docker.errors.DockerException as exc:
            raise OperationError(f"docker import of {tarball} as {tag} failed: {exc}") from exc
        return tag
    finally:
        client.close()


def cli() -> str | None:
    """The docker CLI the image builder should use, if Debian's (BuildKit-capable) one is installed."""
    return str(DEBIAN_CLI) if DEBIAN_CLI.exists() else None
