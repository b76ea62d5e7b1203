"""A tag is not overwritten: what the registry already holds under the tag a push is about to use.

The default tag is Jenkins' BUILD_NUMBER, which starts again at 1 when a job is recreated: a new build
would silently replace an image that was tested and may still run, and an ECR repository with immutable
tags refuses the re-push of a rerun. So before pushing, the tag is looked up (ECR ``BatchGetImage``, or
the registry v2 manifest API): the same image (same config digest) is "already pushed", a no-op; a
different one stops the push naming both digests unless ``--overwrite-tag``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import requests

from .. import aws
from ..errors import PreconditionError
from .registry import MANIFEST_TYPES, Registry, v2_request

log = logging.getLogger(__name__)
MANIFESTS = MANIFEST_TYPES


@dataclass(frozen=True)
class RemoteTag:
    """A tag in the registry: its manifest digest and the config digests (image ids) of what it names."""

    reference: str
    digest: str
    configs: frozenset[str]


def lookup(registry: Registry, name: str, tag: str, *, ecr: Any | None = None) -> RemoteTag | None:
    """What ``name:tag`` is in ``registry`` (None when absent, or when the registry will not say)."""
    if registry.ecr and ecr is not None:
        return _ecr(ecr, registry.reference(name, tag), name, tag)
    return _v2(registry, name, tag)


def already_pushed(remote: RemoteTag | None, local: str, image_id: str, *, overwrite: bool) -> bool:
    """True when the tag already names this image (nothing to push); raises when it names another image,
    unless ``overwrite``."""
    if remote is None:
        return False
    if image_id in remote.configs:
        log.info("already pushed: %s is %s (image %s); nothing to push", remote.reference, remote.digest, image_id)
        return True
    if overwrite:
        log.warning("--overwrite-tag: %s (%s) is replaced by %s (%s)", remote.reference, remote.digest, local, image_id)
        return False
    raise PreconditionError(
        f"tag {remote.reference} already exists as {remote.digest}, another image than {local} ({image_id}); "
        "nothing was pushed",
        hint="push under a new tag (--tag, e.g. BUILD_NUMBER-GIT_COMMIT), or pass --overwrite-tag to replace it "
        "(an ECR repository with immutable tags refuses that)",
    )


def _ecr(ecr: Any, reference: str, name: str, tag: str) -> RemoteTag | None:
    what = f"ECR BatchGetImage of {name}:{tag} failed"
    hint = "the credentials need ecr:BatchGetImage on the repository"
    try:
        accepted = list(MANIFESTS)
        resp = ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": tag}], acceptedMediaTypes=accepted)
        images = resp.get("images") or []
        if not images:
            return None  # failures: ImageNotFound (or TagNotFound)
        digest = str(images[0]["imageId"]["imageDigest"])
        manifest = json.loads(images[0]["imageManifest"])
        children = [str(m["digest"]) for m in manifest.get("manifests", [])]
        configs = {str(manifest.get("config", {}).get("digest", ""))}
        if children:
            got = ecr.batch_get_image(
                repositoryName=name, imageIds=[{"imageDigest": d} for d in children], acceptedMediaTypes=accepted
            )
            configs |= {str(json.loads(i["imageManifest"]).get("config", {}).get("digest", "")) for i in got["images"]}
    except botocore.exceptions.ClientError as exc:
        if aws.error_code(exc) == "RepositoryNotFoundException":
            return None  # the push names the missing repository
        raise aws.api_error(what, exc, hint=hint) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise aws.api_error(what, exc, hint=hint) from exc
    return RemoteTag(reference, digest, frozenset(configs - {""}))


def _v2(registry: Registry, name: str, tag: str) -> RemoteTag | None:
    host = registry.host
    try:
        resp = v2_request(registry, f"{name}/manifests/{tag}")  # retried on 5xx, 429 and network errors
        if resp.status_code == 404:
            return None
        if resp.status_code in (401, 403):
            log.warning("registry %s wants credentials to show %s:%s; cannot check the tag is new", host, name, tag)
            return None
        resp.raise_for_status()
        manifest = resp.json()
        configs = {str(manifest.get("config", {}).get("digest", ""))}
        for child in manifest.get("manifests", []):
            sub = v2_request(registry, f"{name}/manifests/{child['digest']}")
            sub.raise_for_status()
            configs.add(str(sub.json().get("config", {}).get("digest", "")))
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise PreconditionError(
            f"cannot check whether {registry.reference(name, tag)} exists: {type(exc).__name__}: {exc}; nothing was "
            "pushed",
            hint=f"check that the registry {host} is up and reachable from this agent, then rerun",
        ) from exc
    digest = resp.headers.get("Docker-Content-Digest", "")
    return RemoteTag(registry.reference(name, tag), digest, frozenset(configs - {""}))
