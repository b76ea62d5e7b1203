"""The uv installer for the image build's dependency stage, as a local image made from the toolkit's own uv.

The Dockerfile takes uv from ``ARG UV_IMAGE`` (by default astral's ``ghcr.io/astral-sh/uv``, whose
``/uv`` it bind-mounts for one RUN, so uv never reaches a layer). Agents often cannot pull from ghcr, and
the classic ``docker build`` has no named build contexts, so the build passes an image it loads itself:
``/uv`` from the ``uv`` package this toolkit depends on, byte-for-byte the same on every agent with the
same uv version (fixed config, creation time and tar metadata), so its id, and with it the registry
cache's keys for the dependency step, match across ephemeral agents. The push stage also leaves it in
the registry beside the cache (:func:`registry_tag`), so that the next agent with an empty engine need
not load it: BuildKit pulls it from there only if the dependency step must run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import requests

from ..errors import OperationError
from . import cache
from .containers import ENGINE_HINT, docker_reason

log = logging.getLogger(__name__)
REPOSITORY = "jenkins-codeartifact/uv"


@functools.cache
def uv_binary() -> tuple[Path, str]:
    """The path and version of the uv binary of this toolkit's environment."""
    from importlib.metadata import version

    import uv

    return Path(uv.find_uv_bin()), version("uv")


def _tar_header(name: str, size: int, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid = size, mode, 0, 0, 0
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padded(size: int, unit: int = tarfile.BLOCKSIZE) -> int:
    return size + (-size) % unit


def image_chunks(binary: Path, tag: str) -> Iterator[bytes]:
    """A ``docker save``-format archive of a one-layer image with ``/uv`` (what ``docker load`` reads), in
    pieces: the engine takes them while the binary is still being read, rather than after 38 MB were
    copied twice in memory. Fixed metadata, so the same binary gives the same bytes on every agent.
    """
    size = binary.stat().st_size
    head = _tar_header("uv", size, 0o755)
    body = len(head) + _padded(size)
    layer_size = _padded(body + 2 * tarfile.BLOCKSIZE, tarfile.RECORDSIZE)  # tar's end blocks, whole records
    yield _tar_header("layer/layer.tar", layer_size)
    digest = hashlib.sha256(head)
    yield head
    read = 0
    with binary.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            read += len(chunk)
            digest.update(chunk)
            yield chunk
    if read != size:
        raise OSError(f"{binary} changed while it was read")
    tail = bytes(layer_size - len(head) - size)
    digest.update(tail)
    yield tail
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/uv"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + digest.hexdigest()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "jenkins-codeartifact: uv from the toolkit"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    offset = tarfile.BLOCKSIZE + layer_size
    for name, data in ((config_name, config_bytes), ("manifest.json", manifest)):
        member = _tar_header(name, len(data)) + data
        member += bytes(_padded(len(member)) - len(member))
        offset += len(member)
        yield member
    yield bytes(_padded(offset + 2 * tarfile.BLOCKSIZE, tarfile.RECORDSIZE) - offset)


def image_archive(binary: Path, tag: str) -> bytes:
    """:func:`image_chunks` in one piece."""
    return b"".join(image_chunks(binary, tag))


def registry_tag(cache_tag: str) -> str:
    """The tag of uv's image beside the registry cache (``buildcache-uv-0.13.9``): one per uv version."""
    return f"{cache_tag}-uv-{uv_binary()[1]}"


def local(client: Any) -> str | None:
    """``REPOSITORY:VERSION`` if the engine has it, else None."""
    tag = f"{REPOSITORY}:{uv_binary()[1]}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise OperationError(f"cannot look up {tag}: {docker_reason(exc)}", hint=ENGINE_HINT) from exc


def for_build(client: Any, copy: str | None = None, auth: dict[str, str] | None = None) -> str:
    """uv's image for a build: the engine's, else the registry ``copy`` if the registry has it, else loaded.

    Naming the registry copy costs a manifest lookup, and BuildKit pulls its layer only if the dependency
    step must run; loading uv into an engine that lacks it costs 0.6 s on every build.
    """
    have = local(client)
    if have is None and copy is not None and not cache.lookup(client, copy, auth):
        log.info("uv: %s (the registry cache's copy; pulled only if the dependency step must run)", copy)
        return copy
    return have or load(client)


def load(client: Any) -> str:
    """``REPOSITORY:VERSION`` loaded into the engine from the toolkit's uv (:func:`for_build` checks first)."""
    binary, version = uv_binary()
    tag = f"{REPOSITORY}:{version}"
    try:
        client.images.load(image_chunks(binary, tag))
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise OperationError(f"cannot load {tag} into the engine: {docker_reason(exc)}", hint=ENGINE_HINT) from exc
    log.info("loaded %s (uv for the dependency stage) from %s", tag, binary)
    return tag
