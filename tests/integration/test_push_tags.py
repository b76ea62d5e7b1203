"""A tag is not overwritten, against the sandbox's registry v2 (Debian's docker-registry) and, for ECR with
immutable tags, botocore's Stubber with BatchGetImage's documented shapes.

The images are put in the registry through its v2 API (a config blob and a manifest), which is what a
push leaves there; the Docker side is a stand-in that says which image id the local tag has and records
whether a push was attempted.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from types import SimpleNamespace

import boto3
import pytest
import requests
from botocore.stub import Stubber

from jenkins_codeartifact.consume import pipeline, tags
from jenkins_codeartifact.consume import registry as registries
from jenkins_codeartifact.errors import PreconditionError
from jenkins_codeartifact.settings import Settings

V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"


def put_image(host: str, name: str, tag: str, label: str) -> tuple[str, str]:
    """Upload a config blob and a manifest naming it; returns (manifest digest, config digest = image id)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"x": label}}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    start = requests.post(f"http://{host}/v2/{name}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    location = location if location.startswith("http") else f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    done = requests.put(f"{location}{sep}digest={config_digest}", data=config, timeout=10)
    assert done.status_code == 201, done.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": V2,
        "config": {
            "mediaType": CONFIG,
            "size": len(config),
            "digest": config_digest,
        },
        "layers": [],
    }
    body = json.dumps(manifest).encode()
    resp = requests.put(f"http://{host}/v2/{name}/manifests/{tag}", data=body, headers={"Content-Type": V2}, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.headers["Docker-Content-Digest"], config_digest


class Docker:
    """The engine's side: the local image's id; any push attempt is recorded."""

    def __init__(self, image_id: str) -> None:
        self.image_id, self.pushed = image_id, []
        self.images = SimpleNamespace(get=lambda ref: SimpleNamespace(id=self.image_id, tag=lambda *a: True))
        self.api = SimpleNamespace(push=self._push)

    def ping(self) -> bool:
        return True

    def _push(self, repository, tag, **kw):
        self.pushed.append(f"{repository}:{tag}")
        yield {"aux": {"Digest": "sha256:" + "9" * 64}}


def stages(registry: str, name: str, tag: str, docker: Docker, **kw) -> pipeline.Stages:
    kw.setdefault("no_registry_cache", True)  # the release tag only; the moving cache tag: test_image_cache.py
    s = Settings(image_name=name, tag=tag, registry=registry, target="local", **kw)
    return pipeline.Stages(s, docker_factory=lambda: docker)


@pytest.fixture
def host(sandbox_env):
    return sandbox_env["CA_REGISTRY"]


def test_the_same_image_under_the_same_tag_is_already_pushed(host, caplog):
    caplog.set_level("INFO", logger="jenkins_codeartifact")
    name, tag = f"tags-{uuid.uuid4().hex[:8]}", "1"
    digest, image_id = put_image(host, name, tag, "a")
    docker = Docker(image_id)
    run = stages(host, name, tag, docker)
    result = run.push()
    assert (result.reference, result.digest, result.attempts) == (f"{host}/{name}:{tag}", digest, 0)
    assert run.record["push"]["already_pushed"] is True
    assert docker.pushed == []
    assert f"already pushed: {host}/{name}:{tag} is {digest}" in caplog.text


def test_another_image_under_an_existing_tag_is_refused_naming_both_digests(host):
    name, tag = f"tags-{uuid.uuid4().hex[:8]}", "1"
    digest, _ = put_image(host, name, tag, "a")
    other = "sha256:" + hashlib.sha256(b"another build").hexdigest()
    docker = Docker(other)
    with pytest.raises(PreconditionError) as err:
        stages(host, name, tag, docker).push()
    assert err.value.exit_code == 3
    assert digest in err.value.message and other in err.value.message
    assert "--overwrite-tag" in err.value.hint
    assert docker.pushed == []
    after = requests.head(f"http://{host}/v2/{name}/manifests/{tag}", headers={"Accept": V2}, timeout=10)
    assert after.headers["Docker-Content-Digest"] == digest  # the registry still has the tested image


def test_overwrite_tag_pushes_anyway(host):
    name, tag = f"tags-{uuid.uuid4().hex[:8]}", "1"
    put_image(host, name, tag, "a")
    docker = Docker("sha256:" + "8" * 64)
    stages(host, name, tag, docker, overwrite_tag=True).push()
    assert docker.pushed == [f"{host}/{name}:{tag}".rsplit(":", 1)[0] + f":{tag}"]


def test_a_new_tag_is_pushed(host):
    name = f"tags-{uuid.uuid4().hex[:8]}"
    docker = Docker("sha256:" + "8" * 64)
    stages(host, name, "1", docker).push()
    assert docker.pushed == [f"{host}/{name}:1"]


def test_ecr_with_immutable_tags_a_rerun_is_a_no_op():
    """BatchGetImage answers the tag's manifest; the same config means no push (which ECR would refuse with
    ImageTagAlreadyExistsException on an immutable repository)."""
    ecr = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    image_id, digest = "sha256:" + "c" * 64, "sha256:" + "d" * 64
    manifest = json.dumps({"schemaVersion": 2, "mediaType": V2, "config": {"digest": image_id}, "layers": []})
    registry = registries.Registry("123456789012.dkr.ecr.eu-west-1.amazonaws.com", ecr=True)
    with Stubber(ecr) as stub:
        stub.add_response(
            "batch_get_image",
            {
                "images": [
                    {
                        "registryId": "123456789012",
                        "repositoryName": "app",
                        "imageId": {"imageDigest": digest, "imageTag": "7"},
                        "imageManifest": manifest,
                        "imageManifestMediaType": V2,
                    }
                ],
                "failures": [],
            },
        )
        stub.add_response(
            "batch_get_image",
            {
                "images": [],
                "failures": [
                    {
                        "imageId": {"imageTag": "8"},
                        "failureCode": "ImageNotFound",
                        "failureReason": "Requested image not found",
                    }
                ],
            },
        )
        remote = tags.lookup(registry, "app", "7", ecr=ecr)
        assert remote is not None and tags.already_pushed(remote, "app:7", image_id, overwrite=False) is True
        assert remote.digest == digest
        assert tags.lookup(registry, "app", "8", ecr=ecr) is None
