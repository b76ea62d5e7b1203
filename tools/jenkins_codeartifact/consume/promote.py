"""``promote --from staging --to prod``: deploy exactly the digest that is live and healthy in staging.

The digest is read from staging's stack (its ImageDigest parameter), never from a tag, and only when the
stack is settled and every ECS service's last rollout COMPLETED: a promote during staging's rollout
would ship what nobody has seen healthy. When prod's registry is another one (another account's ECR),
the image is copied by digest: blobs first (each verified against its digest as it is read), then the
manifest by digest, then the tag, last, in one request. So an abort or a failure at any point leaves
the target without a tag naming a half-copied image; the digest there is checked equal to staging's.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from ..console import step
from ..errors import OperationError, PreconditionError
from . import cloudformation, rollout
from .images import INDEX_TYPES, Images, Manifest

log = logging.getLogger(__name__)


def live_and_healthy(cfn: Any, ecs: Any, stack: str, env: str) -> tuple[str, str]:
    """``(tag, digest)`` that ``stack`` runs, when it is settled and its last rollout COMPLETED (exit 3 if not)."""
    st = cloudformation.Stack(cfn, stack)
    found = st.describe()
    if not found:
        raise PreconditionError(f"promote: stack {stack} of environment {env} does not exist; nothing was deployed")
    status = str(found["StackStatus"])
    params = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in found.get("Parameters", [])}
    if status not in cloudformation.OK:
        raise PreconditionError(
            f"promote: stack {stack} of environment {env} is {status}, not settled; nothing was deployed",
            hint=f"wait for the deploy to {env} to end (or fix it), then promote",
        )
    digest = params.get("ImageDigest", "")
    if not digest:
        raise PreconditionError(
            f"promote: stack {stack} of environment {env} runs no image by digest; nothing was deployed",
            hint=f"deploy to {env} with ca-consume-deploy deploy (which pins the digest) first",
        )
    services = rollout.services_of(st.resources())
    for service in services:
        rollout.judge(service, rollout.describe_service(ecs, service), stack_final=True)
        if service.verdict != "completed":
            raise PreconditionError(
                f"promote: the last rollout of {env} is not COMPLETED ({service.line()}); nothing was deployed",
                hint=f"wait for the rollout in {env} to complete and pass its checks, then promote",
            )
    return params.get("ImageTag", ""), digest


def copy(source: Images, target: Images, digest: str, tag: str) -> dict[str, Any]:
    """Copy ``digest`` (manifest and blobs) from ``source`` to ``target`` and tag it ``tag`` there, last."""
    with step(f"copy {digest} from {source.where} to {target.where} as {source.name}:{tag}", log):
        manifest = _manifest(source, digest)
        copied = _copy_image(source, target, manifest)
        target.put(tag, manifest)  # the one request that makes the tag: after everything it names is there
        there = target.manifest(tag)
        if there is None or there.digest != digest:
            raise OperationError(
                f"promote: {target.where} has {tag} as {there.digest if there else 'nothing'}, not {digest}",
                hint="the target registry rewrote the manifest: copy with a tool that keeps it byte for byte",
            )
    return {"from": source.where, "to": target.where, "digest": digest, "blobs_copied": copied}


def _manifest(images: Images, digest: str) -> Manifest:
    found = images.manifest(digest)
    if found is None:
        raise PreconditionError(f"promote: {digest} is not in {images.where} any more; nothing was deployed")
    if "sha256:" + hashlib.sha256(found.body.encode("utf-8")).hexdigest() != digest:
        raise OperationError(f"promote: the manifest {images.where} gave for {digest} does not match its digest")
    return found


def _copy_image(source: Images, target: Images, manifest: Manifest) -> int:
    """Blobs, then child manifests (an index), then the manifest itself by digest (untagged)."""
    data = manifest.parsed()
    copied = 0
    if manifest.media_type in INDEX_TYPES or "manifests" in data:
        for child in data.get("manifests") or []:
            copied += _copy_image(source, target, _manifest(source, str(child["digest"])))
    else:
        wanted = [data.get("config") or {}, *(data.get("layers") or [])]
        for blob in wanted:
            digest = str(blob.get("digest", ""))
            if not digest or target.has_blob(digest):
                continue
            raw = source.blob(digest)
            if raw is None or "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                raise OperationError(f"promote: blob {digest} could not be read intact from {source.where}")
            target.upload(digest, raw)
            copied += 1
    target.put(manifest.digest, manifest)
    return copied
