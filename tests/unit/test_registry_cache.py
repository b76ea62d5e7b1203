"""The registry cache lookup and the uv image, without an engine (the real engine: tests/integration)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import tarfile

import docker.errors
import pytest
import requests

from jenkins_codeartifact.consume import cache, uvimage
from jenkins_codeartifact.errors import OperationError


class Api:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.timeout = 60
        self.seen: list[tuple[str, object, float]] = []

    def inspect_distribution(self, reference, auth_config=None):
        self.seen.append((reference, auth_config, self.timeout))
        if self.error:
            raise self.error
        return {"Descriptor": {}}


class Client:
    def __init__(self, error: BaseException | None = None) -> None:
        self.api = Api(error)


def test_a_cache_image_in_the_registry_is_used_with_the_registry_login():
    client = Client()
    assert cache.cache_from(client, "reg/app:buildcache", {"username": "AWS"}) == "reg/app:buildcache"
    assert client.api.seen == [("reg/app:buildcache", {"username": "AWS"}, cache.LOOKUP_TIMEOUT)]
    assert client.api.timeout == 60  # the client's own timeout is back


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (docker.errors.NotFound("manifest unknown"), "not in the registry yet (a first build)"),
        (docker.errors.APIError("denied: requested access to the resource is denied"), "denied"),
        (requests.ReadTimeout("Read timed out. (read timeout=15)"), "the registry did not answer in time"),
        (requests.ConnectionError("Connection aborted"), "ConnectionError"),
    ],
)
def test_an_unusable_cache_is_one_warning_and_a_cold_build(error, reason, caplog):
    client = Client(error)
    assert cache.cache_from(client, "reg/app:buildcache") is None
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert line.getMessage().startswith("registry cache reg/app:buildcache: ")
    assert reason in line.getMessage() and line.getMessage().endswith("; building without it")
    assert client.api.timeout == 60


def test_the_uv_image_is_byte_identical_for_the_same_binary(tmp_path):
    """Its id is then the same on every agent, so the registry cache's keys for the dependency stage match."""
    binary = tmp_path / "uv"
    binary.write_bytes(b"\x7fELF fake uv")
    first = b"".join(uvimage.image_chunks(binary, "jenkins-codeartifact/uv:1"))
    binary.touch()  # a different mtime on another agent's copy
    assert b"".join(uvimage.image_chunks(binary, "jenkins-codeartifact/uv:1")) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        assert manifest["RepoTags"] == ["jenkins-codeartifact/uv:1"]
        with tarfile.open(fileobj=outer.extractfile(manifest["Layers"][0])) as layer:
            (member,) = layer.getmembers()
            assert (member.name, member.mode, layer.extractfile(member).read()) == ("uv", 0o755, b"\x7fELF fake uv")


def test_the_streamed_uv_archive_is_the_tar_that_tarfile_writes(tmp_path):
    """The pieces the engine gets are a plain tar (the layer's digest, and so the image id, as before)."""
    binary = tmp_path / "uv"
    binary.write_bytes(bytes(range(256)) * 4099)  # not a whole number of blocks
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("uv")
        info.size, info.mode = binary.stat().st_size, 0o755
        tar.addfile(info, io.BytesIO(binary.read_bytes()))
    chunks = list(uvimage.image_chunks(binary, "jenkins-codeartifact/uv:1"))
    assert len(chunks) > 3 and max(map(len, chunks)) <= 1 << 20  # streamed, never one 38 MB copy
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as outer:
        assert outer.getmembers()[0].name == "layer/layer.tar"
        assert outer.extractfile("layer/layer.tar").read() == layer.getvalue()
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        config = json.load(outer.extractfile(manifest["Config"]))
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()]


class InfoClient:
    def __init__(self, info: dict[str, object] | BaseException) -> None:
        self._info = info

    def info(self):
        if isinstance(self._info, BaseException):
            raise self._info
        return self._info


@pytest.mark.parametrize(
    ("network", "info", "served"),
    [
        ("host", {"Name": socket.gethostname(), "SecurityOptions": ["name=seccomp,profile=default"]}, True),
        ("default", {"Name": socket.gethostname()}, False),  # RUN steps in their own network namespace
        ("host", {"Name": "another-machine"}, False),  # a remote engine, or the host's seen from a container
        ("host", {"Name": socket.gethostname(), "SecurityOptions": ["name=rootless"]}, False),
        ("host", requests.ConnectionError("engine gone"), False),
        ("host", docker.errors.APIError("500 Server Error"), False),
    ],
)
def test_uv_is_served_only_where_the_build_shares_this_hosts_network(network, info, served):
    assert uvimage.can_serve(InfoClient(info), network) is served


def test_the_served_uv_is_the_toolkits_binary_at_a_secret_path_and_gone_after(monkeypatch, tmp_path):
    binary = tmp_path / "uv"
    binary.write_bytes(bytes(range(256)) * 40000)  # 10 MB
    monkeypatch.setattr(uvimage, "uv_binary", lambda: (binary, "0.13.9"))
    with uvimage.served() as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/uv")
        got = requests.get(url, timeout=10)
        assert got.status_code == 200 and got.content == binary.read_bytes()
        base = url.rsplit("/", 2)[0]
        assert requests.get(base + "/uv", timeout=10).status_code == 404  # only the random path
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)  # stopped with the block
    with pytest.raises(RuntimeError), uvimage.served() as url2:  # stopped when the block fails too
        raise RuntimeError("build aborted")
    with pytest.raises(requests.ConnectionError):
        requests.get(url2, timeout=2)


def test_a_uv_binary_that_grows_while_it_is_read_is_a_clean_error_and_never_overfills_the_tar(tmp_path):
    binary = tmp_path / "uv"
    binary.write_bytes(b"\x01" * (3 << 20))
    chunks = uvimage.image_chunks(binary, "jenkins-codeartifact/uv:1")
    sent = [next(chunks), next(chunks), next(chunks)]  # the tar headers and the first MiB
    with binary.open("ab") as fh:
        fh.write(b"\x02" * (1 << 20))  # reinstalled meanwhile
    with pytest.raises(OSError, match="changed while it was read"):
        sent.extend(chunks)
    assert sum(map(len, sent[2:])) <= 3 << 20  # what the layer's header promised, no more


def test_a_failed_uv_stream_is_one_clear_load_error(monkeypatch, tmp_path):
    binary = tmp_path / "uv"
    binary.write_bytes(b"uv")
    monkeypatch.setattr(uvimage, "uv_binary", lambda: (binary, "0.13.9"))

    class Images:
        def load(self, data):
            for _ in data:
                binary.write_bytes(b"uv, larger")  # it grew while the engine read it

    class Engine:
        images = Images()

    with pytest.raises(OperationError, match=r"cannot load jenkins-codeartifact/uv:0.13.9 .*changed while"):
        uvimage.load(Engine())
