"""One image repository seen as manifests and tags: what rollback, ordering and history need of a registry.

The deploy history lives in the registry itself (tags ``live-<env>`` and ``deployed-<env>-<n>``), so this
module reads a manifest, puts one back under another tag (a tag move: no blob is uploaded), lists the
tags with their digests and reads an image's labels from its config blob. Two backends: the account's
ECR through boto3 (its retries) and any registry v2 over HTTP under :data:`netpolicy.REGISTRY`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import botocore.exceptions
import requests

from .. import aws, netpolicy
from ..errors import OperationError, PreconditionError
from .registry import DIGEST_RE, MANIFEST_TYPES, Registry

log = logging.getLogger(__name__)
PUT_HINT = "the credentials need ecr:PutImage; live-* and deployed-* tags must be mutable (an exclusion)"
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry stores it: its digest, its exact bytes and their media type."""

    digest: str
    body: str
    media_type: str

    def parsed(self) -> dict[str, Any]:
        data = json.loads(self.body)
        return data if isinstance(data, dict) else {}


class Images(Protocol):
    """One repository (``name``) of one registry."""

    name: str

    @property
    def where(self) -> str: ...  # for messages: "ECR" or "the registry HOST"

    def manifest(self, ref: str) -> Manifest | None: ...  # a tag or a digest; None when absent

    def put(self, tag: str, manifest: Manifest) -> None: ...  # tag that manifest (moves the tag); a digest: untagged

    def tags(self) -> dict[str, str]: ...  # every tag and the digest it names

    def blob(self, digest: str) -> bytes | None: ...  # None when the registry will not give it

    def has_blob(self, digest: str) -> bool: ...

    def upload(self, digest: str, data: bytes) -> None: ...  # a blob, verified by the registry against digest


def labels(images: Images, digest: str) -> dict[str, str] | None:
    """The image's labels (the config's ``config.Labels``); None when they cannot be read.

    An index (multi-platform) has one config per platform; the build labels them all alike, so the first
    child's is the image's.
    """
    found = images.manifest(digest)
    if found is None:
        return None
    data = found.parsed()
    if found.media_type in INDEX_TYPES or "manifests" in data:
        children = data.get("manifests") or []
        child = images.manifest(str(children[0]["digest"])) if children else None
        if child is None:
            return None
        data = child.parsed()
    config = str((data.get("config") or {}).get("digest", ""))
    raw = images.blob(config) if DIGEST_RE.fullmatch(config) else None
    if raw is None:
        return None
    try:
        got = (json.loads(raw).get("config") or {}).get("Labels") or {}
    except (ValueError, AttributeError):
        return None
    return {str(k): str(v) for k, v in got.items()} if isinstance(got, dict) else None


@dataclass
class EcrImages:
    """A repository of the account's ECR."""

    ecr: Any
    name: str

    @property
    def where(self) -> str:
        return "ECR"

    def manifest(self, ref: str) -> Manifest | None:
        key = "imageDigest" if ref.startswith("sha256:") else "imageTag"
        with self._calling(f"ECR BatchGetImage of {self.name} {ref}", "ecr:BatchGetImage"):
            resp = self.ecr.batch_get_image(
                repositoryName=self.name, imageIds=[{key: ref}], acceptedMediaTypes=list(MANIFEST_TYPES)
            )
        images = resp.get("images") or []
        if not images:
            return None
        got = images[0]
        body = str(got["imageManifest"])
        media = str(got.get("imageManifestMediaType") or json.loads(body).get("mediaType") or MANIFEST_TYPES[0])
        return Manifest(str(got["imageId"]["imageDigest"]), body, media)

    def put(self, tag: str, manifest: Manifest) -> None:
        where = {"imageDigest": tag} if tag.startswith("sha256:") else {"imageTag": tag}
        try:
            self.ecr.put_image(
                repositoryName=self.name,
                imageManifest=manifest.body,
                imageManifestMediaType=manifest.media_type,
                **where,
            )
        except botocore.exceptions.ClientError as exc:
            if aws.error_code(exc) == "ImageAlreadyExistsException":
                return  # the tag names that manifest already: nothing to do
            raise aws.api_error(f"ECR PutImage of {self.name}:{tag} failed", exc, hint=PUT_HINT) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise aws.api_error(f"ECR PutImage of {self.name}:{tag} failed", exc, hint=PUT_HINT) from exc

    def tags(self) -> dict[str, str]:
        out: dict[str, str] = {}
        with self._calling(f"ECR DescribeImages of {self.name}", "ecr:DescribeImages"):
            for page in self.ecr.get_paginator("describe_images").paginate(repositoryName=self.name):
                for image in page.get("imageDetails", []):
                    for tag in image.get("imageTags") or []:
                        out[str(tag)] = str(image["imageDigest"])
        return out

    def blob(self, digest: str) -> bytes | None:
        try:
            url = self.ecr.get_download_url_for_layer(repositoryName=self.name, layerDigest=digest)["downloadUrl"]
            policy = netpolicy.REGISTRY
            resp = netpolicy.request(
                lambda: requests.get(url, timeout=policy.timeout), policy, f"ECR blob {digest[:19]}", log
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, netpolicy.RetriesExhausted) as exc:
            log.debug("ECR blob %s of %s: %s", digest, self.name, exc)
            return None
        return resp.content if resp.status_code == 200 else None

    def has_blob(self, digest: str) -> bool:
        with self._calling(f"ECR BatchCheckLayerAvailability of {self.name}", "ecr:BatchCheckLayerAvailability"):
            resp = self.ecr.batch_check_layer_availability(repositoryName=self.name, layerDigests=[digest])
        return any(layer.get("layerAvailability") == "AVAILABLE" for layer in resp.get("layers") or [])

    def upload(self, digest: str, data: bytes) -> None:
        with self._calling(
            f"ECR layer upload of {digest} to {self.name}", "ecr:InitiateLayerUpload, ecr:UploadLayerPart"
        ):
            upload = self.ecr.initiate_layer_upload(repositoryName=self.name)["uploadId"]
            self.ecr.upload_layer_part(
                repositoryName=self.name,
                uploadId=upload,
                partFirstByte=0,
                partLastByte=len(data) - 1,
                layerPartBlob=data,
            )
            self.ecr.complete_layer_upload(repositoryName=self.name, uploadId=upload, layerDigests=[digest])

    def _calling(self, what: str, permission: str) -> Any:
        return aws.calling(f"{what} failed", hint=f"the credentials need {permission} on the repository")


@dataclass
class V2Images:
    """A repository of a registry v2 (``--registry``)."""

    registry: Registry
    name: str

    @property
    def where(self) -> str:
        return f"the registry {self.registry.host}"

    def _send(self, method: str, path: str, **kw: Any) -> requests.Response:
        host = self.registry.host
        loopback = host.split(":")[0] in ("localhost", "127.0.0.1", "[::1]")
        url = f"{'http' if loopback else 'https'}://{host}/v2/{self.name}/{path}"
        policy = netpolicy.REGISTRY
        headers = {"Accept": ", ".join(MANIFEST_TYPES), **kw.pop("headers", {})}
        try:  # every request here is idempotent: a manifest PUT of the same bytes to the same tag too
            return netpolicy.request(
                lambda: requests.request(method, url, headers=headers, timeout=policy.timeout, **kw),
                policy,
                f"registry {method} {url}",
                log,
            )
        except netpolicy.RetriesExhausted as exc:
            raise PreconditionError(
                f"registry unreachable: {method} {url} {exc.cause}, {exc.attempts} attempts",
                hint=f"check that the registry {host} is up and reachable from this agent, then rerun",
            ) from None

    def manifest(self, ref: str) -> Manifest | None:
        resp = self._send("GET", f"manifests/{ref}")
        if resp.status_code == 404:
            return None
        self._ok(resp, f"manifest {ref}")
        media = resp.headers.get("Content-Type", "").split(";")[0] or MANIFEST_TYPES[0]
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not DIGEST_RE.fullmatch(digest):
            digest = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        return Manifest(digest, resp.content.decode("utf-8"), media)

    def put(self, tag: str, manifest: Manifest) -> None:
        body = manifest.body.encode("utf-8")
        resp = self._send("PUT", f"manifests/{tag}", data=body, headers={"Content-Type": manifest.media_type})
        self._ok(resp, f"PUT of tag {tag}")

    def tags(self) -> dict[str, str]:
        resp = self._send("GET", "tags/list")
        if resp.status_code == 404:
            return {}
        self._ok(resp, "tag list")
        out = {}
        for tag in resp.json().get("tags") or []:
            head = self._send("HEAD", f"manifests/{tag}")
            digest = head.headers.get("Docker-Content-Digest", "")
            if head.status_code == 200 and DIGEST_RE.fullmatch(digest):
                out[str(tag)] = digest
        return out

    def blob(self, digest: str) -> bytes | None:
        resp = self._send("GET", f"blobs/{digest}")
        return resp.content if resp.status_code == 200 else None

    def has_blob(self, digest: str) -> bool:
        return self._send("HEAD", f"blobs/{digest}").status_code == 200

    def upload(self, digest: str, data: bytes) -> None:
        """A monolithic upload: POST opens it, PUT with ``?digest=`` closes it (the registry checks the digest).

        Not retried as a whole here: a failed one leaves an unfinished upload the registry discards, never a
        blob under a wrong digest.
        """
        opened = self._send("POST", "blobs/uploads/")
        self._ok(opened, f"blob upload of {digest}")
        location = opened.headers.get("Location", "")
        if location.startswith("/v2/"):
            location = location[len(f"/v2/{self.name}/") :]
        elif "://" in location:
            location = location.split(f"/v2/{self.name}/", 1)[-1]
        joiner = "&" if "?" in location else "?"
        done = self._send(
            "PUT", f"{location}{joiner}digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"}
        )
        self._ok(done, f"blob upload of {digest}")

    def _ok(self, resp: requests.Response, what: str) -> None:
        if resp.status_code >= 400:
            raise OperationError(
                f"registry {self.registry.host} answered HTTP {resp.status_code} for {self.name} {what}",
                hint="check the registry's credentials and that it accepts manifest PUTs (tag moves)",
            )
