"""The uv installer for the image build's dependency stage: served to the build, or as an image.

The Dockerfile's dependency step runs uv from ``ARG UV_IMAGE`` (by default astral's
``ghcr.io/astral-sh/uv``, bind-mounted for one RUN, so uv never reaches a layer), unless the build gives
it the secret ``uv``: the address of a uv binary to fetch into a tmpfs for that RUN. Agents often cannot
pull from ghcr, and the classic ``docker build`` has no named build contexts, so uv comes from the ``uv``
package this toolkit depends on, in one of two ways:

- served (:func:`served`): where the build's RUN steps share this host's network (:func:`can_serve`),
  this process serves the binary on 127.0.0.1 for the build, and ``UV_IMAGE`` is ``scratch``. Nothing is
  loaded into the engine (38 MB stored and hashed twice there: 0.5 s of a 2 s cold build), and the step
  fetches uv only if it runs at all. The address changes every build, which is why it is a secret: a
  build arg would be in the step's cache key and the image's history.
- as an image (:func:`for_build`): loaded into the engine, byte-for-byte the same on every agent with the
  same uv version (fixed config, creation time and tar metadata), so its id, and with it the registry
  cache's keys for the dependency step, match across ephemeral agents. The push stage also leaves it in
  the registry beside the cache (:func:`registry_tag`), so that the next agent with an empty engine need
  not load it: BuildKit pulls it from there only if the dependency step must run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import logging
import os
import re
import secrets
import socket
import tarfile
import threading
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
SECRET_ID = "uv"  # RUN --mount=type=secret,id=uv: where the step fetches uv from, when it is served
SERVED_RE = re.compile(r"--mount=\S*\bid=uv(?![\w.-])")  # a Dockerfile that can fetch a served uv
SERVE_TIMEOUT = 30.0  # seconds a connection of the build may sit idle


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
        while read < size and (chunk := fh.read(min(1 << 20, size - read))):
            read += len(chunk)
            digest.update(chunk)
            yield chunk
        if read != size or fh.read(1):  # never more than the header promised: the engine gets a short tar
            raise OSError(f"{binary} changed while it was read (uv reinstalled?)")
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
    except OSError as exc:  # image_chunks' own (requests' errors are OSErrors too: caught above)
        raise OperationError(f"cannot load {tag} into the engine: {exc}", hint="rerun") from exc
    log.info("loaded %s (uv for the dependency stage) from %s", tag, binary)
    return tag


def can_serve(client: Any, network: str) -> bool:
    """Whether the build's RUN steps can fetch uv from 127.0.0.1 of this process.

    They can when they use the host's network and the engine runs in this host's network namespace: it
    answers with this host's name (an engine on another machine, or the host's engine seen from inside
    an agent container, has another) and is not rootless (whose network namespace is its own). A wrong
    guess costs one failed attempt: the step says uv is not reachable and the build runs again with uv's
    image.
    """
    if network != "host":
        return False
    try:
        info = client.info()
    except (docker.errors.APIError, requests.RequestException):
        return False
    rootless = any("rootless" in str(option) for option in info.get("SecurityOptions") or ())
    return not rootless and info.get("Name") == socket.gethostname()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("uv: serving %s failed", client_address, exc_info=True)  # the build says why, not a traceback


@contextlib.contextmanager
def served() -> Iterator[str]:
    """The toolkit's uv served on 127.0.0.1, at a random port and path, while the block runs: its URL."""
    binary, _ = uv_binary()
    path = f"/{secrets.token_urlsafe(16)}/uv"

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = SERVE_TIMEOUT

        def do_GET(self) -> None:
            if self.path != path:
                self.send_error(404)
                return
            with binary.open("rb") as fh:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(os.fstat(fh.fileno()).st_size))
                self.end_headers()
                self.connection.sendfile(fh)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("uv: %s", format % args)

    server = _Server(("127.0.0.1", 0), Handler)
    # a short poll: leaving the block waits for the loop to notice (0.03 s of a 0.3 s warm rebuild at 0.05)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    port = server.server_address[1]
    log.info("uv: served to the build from 127.0.0.1:%s (the engine shares this host's network)", port)
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        server.shutdown()
        server.server_close()
