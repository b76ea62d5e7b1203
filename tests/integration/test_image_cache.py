"""The registry cache and the dependency stage against the sandbox's Docker engine and registry v2.

"An ephemeral agent" is simulated by removing the images and BuildKit's cache from the engine between
builds; what carries over is only what is in the registry.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
import pytest
import requests
from tests.integration import test_consume as consume_tests

from jenkins_codeartifact.consume import containers, smoke

pytestmark = pytest.mark.docker
APP, cli, leaks = consume_tests.APP, consume_tests.cli, consume_tests.leaks
# the end-to-end tests' fixtures: the sandbox in os.environ, the app's pin on the index, per-test names
env, published, names, cleanup = consume_tests.env, consume_tests.published, consume_tests.names, consume_tests.cleanup
DOCKER = shutil.which("/usr/bin/docker") or "docker"


def empty_engine(name: str) -> None:
    """What a fresh agent has: the base image, nothing else (no image of this test, no build cache)."""
    client = docker.from_env()
    for img in client.images.list():
        for tag in img.tags:
            if name in tag:
                client.images.remove(tag, force=True)
    subprocess.run([DOCKER, "builder", "prune", "--all", "--force"], capture_output=True, check=True)


def app_copy(tmp_path: Path, line: str) -> Path:
    ctx = tmp_path / f"ctx-{line}"
    shutil.copytree(APP, ctx)
    app = ctx / "application.py"
    app.write_text(app.read_text().replace("<title>fantastic time</title>", f"<title>fantastic time {line}</title>"))
    return ctx


def build(capsys, ctx: Path, image: dict[str, str], tag: str, *extra: str) -> tuple[int, str]:
    code, _, err = cli(capsys, "build", "--context", ctx, "--image-name", image["image"], "--tag", tag, *extra)
    return code, err


def installed_dependencies(err: str) -> bool:
    """Whether the dependency stage ran (uv printed what it installed) rather than coming from a cache."""
    return "Installed 10 packages" in err


def registry_blobs(environ: dict[str, str], name: str, tag: str) -> list[bytes]:
    """Manifest, config and every layer (uncompressed) of ``name:tag`` as the registry serves them."""
    base = f"http://{environ['CA_REGISTRY']}/v2/{name}"
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    manifest = requests.get(f"{base}/manifests/{tag}", headers={"Accept": accept}, timeout=30)
    manifest.raise_for_status()
    doc = manifest.json()
    digests = [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]
    blobs = [requests.get(f"{base}/blobs/{d}", timeout=60).content for d in digests]
    return [manifest.content, *(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in blobs)]


def test_ephemeral_agent_reuses_the_dependency_stage_from_the_registry(
    env, published, names, cleanup, capsys, tmp_path, token
):
    empty_engine(names["image"])
    code, err = build(capsys, app_copy(tmp_path, "one"), names, "1")
    assert code == 0, err
    assert f"registry cache {env['CA_REGISTRY']}/{names['image']}:buildcache: not in the registry yet" in err
    assert installed_dependencies(err)
    code, _, err2 = cli(capsys, "push", "--image-name", names["image"], "--tag", "1", "--target", "local")
    assert code == 0, err2
    assert f"push {env['CA_REGISTRY']}/{names['image']}:buildcache" in err2

    empty_engine(names["image"])
    code, err3 = build(capsys, app_copy(tmp_path, "two"), names, "2")
    assert code == 0, err3
    assert f"registry cache: reusing the layers of {env['CA_REGISTRY']}/{names['image']}:buildcache" in err3
    assert not installed_dependencies(err3), err3  # the venv layer came from the registry
    assert "fantastic time two" in smoke_page(f"{names['image']}:2")

    # the cache image is the pushed image: its manifest, config (with BuildKit's cache record) and layers
    blobs = registry_blobs(env, names["image"], "buildcache")
    assert any(b"moby.buildkit.cache.v0" in blob for blob in blobs)  # the inline cache is in there
    for blob in blobs:
        assert not leaks(blob, token)


def test_the_plain_pip_dockerfile_builds_and_serves(env, published, names, cleanup, capsys, tmp_path, token):
    ctx = app_copy(tmp_path, "pip")
    (ctx / "Dockerfile.pip").replace(ctx / "Dockerfile")
    code, err = build(capsys, ctx, names, "1", "--no-registry-cache")
    assert code == 0, err
    assert "Successfully installed" in err and "fantastic-ascii-1.0.0" in err
    assert "fantastic time pip" in smoke_page(f"{names['image']}:1")
    client = docker.from_env()
    assert not leaks(json.dumps(client.images.get(f"{names['image']}:1").history()).encode(), token)


def smoke_page(ref: str) -> str:
    client = docker.from_env()
    port = containers.free_port()
    container = containers.start(
        client, ref, name=f"ca-test-{port}", network="host", container_port=8080, host_port=port
    )
    try:
        health = smoke.poll(f"{container.base_url}/healthz", 60, alive=container.alive, strict=False)
        assert health.status == 200
        return requests.get(f"{container.base_url}/", timeout=10).text
    finally:
        container.remove()


def test_an_unreachable_registry_gives_one_line_and_a_cold_build(env, published, names, cleanup, capsys, tmp_path):
    down = f"127.0.0.1:{containers.free_port()}"
    empty_engine(names["image"])
    code, err = build(capsys, app_copy(tmp_path, "down"), names, "1", "--registry", down)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "registry cache" in line]
    assert len(lines) == 1 and f"{down}/{names['image']}:buildcache" in lines[0] and "building without it" in lines[0]
    assert installed_dependencies(err)


def test_a_cache_image_from_another_dockerfile_is_harmless(env, published, names, cleanup, capsys, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "Dockerfile").write_text(f"FROM {env['CA_BASE_IMAGE']}\nRUN echo other > /other.txt\n")
    ref = f"{env['CA_REGISTRY']}/{names['image']}:buildcache"
    built = subprocess.run(  # the engine has no bridge network: RUN steps need the host's
        [DOCKER, "build", "--network", "host", "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", ref, str(other)],
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    subprocess.run([DOCKER, "push", ref], capture_output=True, check=True)
    empty_engine(names["image"])
    code, err = build(capsys, app_copy(tmp_path, "other"), names, "1")
    assert code == 0, err
    assert f"registry cache: reusing the layers of {ref}" in err
    assert installed_dependencies(err)  # nothing matched: a cold build, not a failure
    assert "fantastic time other" in smoke_page(f"{names['image']}:1")


def test_the_image_holds_no_installer_and_no_download_cache(env, published, names, cleanup, capsys, tmp_path):
    code, err = build(capsys, app_copy(tmp_path, "clean"), names, "1", "--no-registry-cache")
    assert code == 0, err
    assert "registry cache" not in err
    saved = tmp_path / "image.tar"
    subprocess.run([DOCKER, "save", "-o", str(saved), f"{names['image']}:1"], check=True)
    ours: list[str] = []
    with tarfile.open(saved) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        config = json.load(outer.extractfile(manifest[0]["Config"]))
        assert "moby.buildkit.cache.v0" not in json.dumps(config)  # --no-registry-cache: no inline cache
        for layer_name in manifest[0]["Layers"][-2:]:  # the venv and the code: all the Dockerfile adds
            with tarfile.open(fileobj=outer.extractfile(layer_name)) as layer:
                ours += [member.name for member in layer.getmembers() if not member.isdir()]
    assert any(n.startswith("opt/venv/lib/") and n.endswith("flask/__init__.py") for n in ours)
    # mount points may stay as empty directories; no file of the installer or of its cache does
    unwanted = [n for n in ours if n.rsplit("/", 1)[-1] in ("uv", "uvx", "pip") or "cache/uv" in n or ".cache" in n]
    assert unwanted == []
