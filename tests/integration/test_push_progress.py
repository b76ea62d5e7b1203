"""Push progress from a real engine's stream: the summary lines carry the bytes and layers the engine reports
(the base image pushed to the sandbox's registry, reported every 0.2 s instead of 10 s). The engine's
"current" passes its "total" near the end of a layer (seen here: 241.4 MB of 233.6 MB): capped."""

from __future__ import annotations

import logging
import re
import uuid

import docker

from jenkins_codeartifact.consume import registry as registries

LINE = re.compile(r"\[ *[\d.]+s\] pushing: ([\d.]+ [KMG]?B)(?: of ([\d.]+ [KMG]?B))? sent, (\d+)/(\d+) layers done")


def test_a_real_push_is_reported_in_bytes_and_layers(docker_env, monkeypatch, caplog):
    monkeypatch.setattr(registries, "PUSH_REPORT_EVERY", 0.2)
    caplog.set_level(logging.INFO)
    client = docker.DockerClient(base_url=docker_env["DOCKER_HOST"])
    local = f"progress-{uuid.uuid4().hex[:8]}:1"
    # A layer of fresh random bytes: the registry cannot have it (earlier tests pushed the base image's
    # layers, which the engine would only mount, in no time and without a progress line).
    writer = client.containers.run(
        docker_env["CA_BASE_IMAGE"], ["sh", "-c", "head -c 64000000 /dev/urandom > /blob"], detach=True
    )
    try:
        assert writer.wait(timeout=120)["StatusCode"] == 0
        base = writer.commit(repository=local.split(":")[0], tag="1")
    finally:
        writer.remove(force=True)
    registry = registries.registry_from_url(docker_env["CA_REGISTRY"])
    try:
        result = registries.push(client, local, registry, local.split(":")[0], "1", attempts=1)
    finally:
        client.images.remove(local)
    assert result.digest and result.digest.startswith("sha256:")
    lines = [m for m in (LINE.search(r.getMessage()) for r in caplog.records) if m]
    assert lines, [r.getMessage() for r in caplog.records]
    layers = len(base.history()) and len(base.attrs["RootFS"]["Layers"])
    assert all(int(m.group(4)) <= layers for m in lines)
    assert int(lines[-1].group(3)) <= int(lines[-1].group(4))
    assert all(size(m.group(1)) <= size(m.group(2)) for m in lines if m.group(2))  # never more than the total
    print(f"\npush of {layers} layer(s): {len(lines)} progress lines, last: {lines[-1].group(0)}")


def size(text: str) -> float:
    value, unit = text.split()
    return float(value) * {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
