"""Registries: ECR login through the AWS API (or any registry given by ``--registry``), push, pull, emptying.

Push and pull go through the docker SDK, which hands the credentials to the engine in the request (never
argv or a config file on disk). ECR's password is registered as a secret before anything can log it.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import docker.auth
import docker.errors
import requests
import urllib3.exceptions

from .. import aws, netpolicy, redact
from ..console import Progress, step
from ..errors import ConfigError, OperationError, PreconditionError
from . import pushstream
from .containers import ENGINE_HINT, docker_reason
from .pushstream import PushMeter

log = logging.getLogger(__name__)
PUSH_STALL = 120.0  # seconds without any progress from the engine before a push attempt counts as failed
PUSH_REPORT_EVERY = 10.0  # seconds between the push's progress lines (bytes, layers), engine silent or not


@dataclass(frozen=True)
class Registry:
    """Where images go: a host[:port] and, for ECR, the credentials from GetAuthorizationToken."""

    host: str
    auth: dict[str, str] | None = field(default=None, repr=False)
    ecr: bool = False

    def reference(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"


def registry_from_url(url: str) -> Registry:
    """``--registry`` accepts ``host[:port]`` or a URL; Docker wants the bare host.

    Credentials in it are refused (their password registered first, so no line can show it): the engine
    takes a registry's credentials from ``docker login``, never from a URL that logs and reports repeat.
    """
    parts = urllib.parse.urlsplit(url if "//" in url else f"//{url}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        redact.register(parts.password)
        shown = redact.scrub(url) if parts.password else url
        raise ConfigError(
            f"--registry {shown!r}: credentials in the registry URL are not accepted",
            hint="give only host[:port] (CA_REGISTRY) and log the engine in with `docker login HOST` "
            "(or leave --registry out to use the account's ECR with its own login)",
        )
    host = (parts.netloc + parts.path).rstrip("/")
    if not host or any(c.isspace() for c in host) or not parts.hostname:
        raise ConfigError(f"--registry {url!r}: expected host[:port]")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ConfigError(f"--registry {url!r}: not a valid port") from None
    return Registry(host)


def ecr_login(ecr_client: Any) -> Registry:
    """The account's ECR registry with a 12-hour login from ``get_authorization_token``."""
    with aws.calling("ECR login failed", hint="the credentials need ecr:GetAuthorizationToken (or pass --registry)"):
        resp = ecr_client.get_authorization_token()
    data = resp["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    redact.register(password)
    redact.register(data["authorizationToken"])
    host = urllib.parse.urlsplit(data["proxyEndpoint"]).netloc or data["proxyEndpoint"]
    return Registry(host, {"username": user, "password": password, "serveraddress": host}, ecr=True)


def cli_can_pull(registry: Registry) -> bool:
    """Whether a BuildKit build of the docker CLI can pull from ``registry`` by itself.

    BuildKit takes credentials from the CLI's config (``docker login``, a credential helper such as
    ECR's), never from this process: the ECR login made here through the API does not reach it.
    """
    if not registry.ecr:
        return True  # --registry: the push and the build both use the CLI config's `docker login`
    try:
        config = docker.auth.load_config()
    except (OSError, ValueError) as exc:  # unreadable or malformed: BuildKit could not use it either
        log.debug("docker CLI config: %s", exc)
        return False
    return bool(config.get_credential_store(registry.host) or registry.host in config.auths)


@dataclass(frozen=True)
class PushResult:
    reference: str
    digest: str | None
    attempts: int


class _PushFailed(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


_PERMANENT = re.compile(r"unauthorized|denied|authentication required|name unknown|repository .* not found", re.I)


def push(
    client: Any,
    local: str,
    registry: Registry,
    name: str,
    tag: str,
    *,
    attempts: int = 4,
    backoff: float = 2.0,
    stall: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Tag ``local`` for ``registry`` and push it, retrying transient failures with backoff and jitter.

    An attempt fails when the engine reports an error or shows no progress for ``stall`` seconds (a
    registry that hangs); a refusal (credentials, missing repository) is not retried.
    """
    reference = registry.reference(name, tag)
    repository = reference.rsplit(":", 1)[0]
    try:
        client.images.get(local).tag(repository, tag)
    except docker.errors.ImageNotFound as exc:
        raise PreconditionError(f"image {local} not found", hint="build it first (ca-consume-deploy build)") from exc
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise OperationError(f"cannot tag {local} as {reference}: {docker_reason(exc)}", hint=ENGINE_HINT) from exc
    attempts = max(1, attempts)
    last = ""
    with step(f"push {reference}", log) as progress:  # every failure raises inside: never "done"
        for attempt in range(1, attempts + 1):
            try:
                digest = _push_once(client, repository, tag, registry.auth, progress, stall or PUSH_STALL)
            except _PushFailed as exc:
                last = str(exc)
                if exc.permanent:
                    hint = "check the registry credentials (ECR login) and that the repository exists"
                    if registry.ecr and re.search(r"name unknown|does not exist|not found", last, re.I):
                        hint = (
                            f"the ECR repository {name} does not exist; on a first deployment pass --stack and "
                            "--template so the stack that holds it is created before the push"
                        )
                    raise OperationError(f"push of {reference} refused: {last}", hint=hint) from None
                if attempt < attempts:
                    delay = netpolicy.Policy(0, 0, attempts - 1, backoff).delay(attempt)
                    netpolicy.log_retry(log, f"push {reference}", last, attempt, attempts - 1, delay, retry_after=False)
                    sleep(delay)
                continue
            log.info("pushed %s@%s", reference, digest or "?")
            return PushResult(reference, digest, attempt)
        raise OperationError(
            f"push of {reference} failed after {attempts} attempts: {last}",
            hint=f"check that the registry {registry.host} is up and reachable from the Docker engine",
        )


def _push_once(
    client: Any, repository: str, tag: str, auth: dict[str, str] | None, progress: Progress, stall: float
) -> str | None:
    digest: str | None = None
    seen: set[tuple[str, str]] = set()
    api = client.api
    saved = getattr(api, "timeout", None)
    if saved is not None:
        api.timeout = stall  # the SDK reads the push stream with its client timeout: a silent engine times out
    meter = PushMeter(progress, PUSH_REPORT_EVERY)
    try:
        stream = api.push(repository, tag, stream=True, decode=True, auth_config=auth)
        for chunk in pushstream.heartbeat(stream, PUSH_REPORT_EVERY):
            if chunk is None:  # the engine said nothing for a while: say where the push stands
                meter.report()
                continue
            if "error" in chunk:
                message = redact.scrub(str(chunk.get("error")))
                raise _PushFailed(message, permanent=bool(_PERMANENT.search(message)))
            meter.see(chunk)
            status, layer = str(chunk.get("status", "")), str(chunk.get("id", ""))
            if status and not chunk.get("progressDetail") and (layer, status) not in seen:
                seen.add((layer, status))
                progress.line(f"{layer}: {status}" if layer else status)
            aux = chunk.get("aux") or {}
            digest = aux.get("Digest", digest)
    except docker.errors.APIError as exc:
        reason = docker_reason(exc)
        raise _PushFailed(reason, permanent=bool(_PERMANENT.search(reason))) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, TimeoutError) as exc:
        if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)) or "timed out" in str(
            exc
        ):
            raise _PushFailed(f"no progress for {stall:g}s (is the registry hanging?)") from None
        raise _PushFailed(f"lost the Docker engine: {type(exc).__name__}") from None
    finally:
        if saved is not None:
            api.timeout = saved
    return digest


# What a registry v2 may answer for a tag: the manifest (list) types Docker and BuildKit push.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def ecr_digest(ecr_client: Any, name: str, tag: str) -> str:
    """The digest of ``name:tag`` in the account's ECR; exit 3 when the tag is not there."""
    what = f"ECR DescribeImages of {name}:{tag} failed"
    try:
        resp = ecr_client.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
    except botocore.exceptions.ClientError as exc:
        if aws.error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise PreconditionError(
                f"image {name}:{tag} is not in ECR ({aws.error_message(exc)}); nothing was deployed",
                hint="push it first (ca-consume-deploy push), or deploy a tag that was pushed",
            ) from exc
        raise aws.api_error(what, exc, hint="the credentials need ecr:DescribeImages") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise aws.api_error(what, exc) from exc
    details = resp.get("imageDetails") or []
    digest = str(details[0].get("imageDigest", "")) if details else ""
    if not DIGEST_RE.fullmatch(digest):
        raise OperationError(f"ECR gave no usable digest for {name}:{tag} ({digest or 'none'})")
    return digest


def v2_request(
    registry: Registry, path: str, *, method: str = "GET", done: str = "nothing was pushed"
) -> requests.Response:
    """An idempotent registry v2 API request (``/v2/`` + ``path``) under :data:`netpolicy.REGISTRY`: 429, 5xx
    and network errors retried, each retry on one line; exit 3 naming the cause when they last (``done``
    says what the failure left undone). Any other answer (200, 404, 401...) is the caller's to read."""
    host = registry.host
    loopback = host.split(":")[0] in ("localhost", "127.0.0.1", "[::1]")
    url = f"{'http' if loopback else 'https'}://{host}/v2/{path}"
    policy = netpolicy.REGISTRY
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        return netpolicy.request(
            lambda: requests.request(method, url, headers=headers, timeout=policy.timeout),
            policy,
            f"registry {method} {url}",
            log,
        )
    except netpolicy.RetriesExhausted as exc:
        raise PreconditionError(
            f"registry unreachable: {method} {url} {exc.cause}, {exc.attempts} attempts; {done}",
            hint=f"check that the registry {host} is up and reachable from this agent, then rerun",
        ) from None


def registry_digest(registry: Registry, name: str, tag: str) -> str | None:
    """The digest of ``name:tag`` in a registry v2 (``--registry``); exit 3 when the tag is not there.

    None (deploy by tag, with a warning) when the registry wants credentials: the engine has them from
    ``docker login``, this process does not.
    """
    resp = v2_request(registry, f"{name}/manifests/{tag}", method="HEAD", done="nothing was deployed")
    if resp.status_code == 200 and DIGEST_RE.fullmatch(resp.headers.get("Docker-Content-Digest", "")):
        return str(resp.headers["Docker-Content-Digest"])
    if resp.status_code == 404:
        raise PreconditionError(
            f"image {name}:{tag} is not in the registry {registry.host}; nothing was deployed",
            hint="push it first (ca-consume-deploy push), or deploy a tag that was pushed",
        )
    if resp.status_code in (401, 403):
        log.warning("registry %s wants credentials to show %s:%s; deploying it by tag", registry.host, name, tag)
        return None
    raise OperationError(f"registry {registry.host} answered HTTP {resp.status_code} for {name}:{tag}")


def pull(client: Any, reference: str, auth: dict[str, str] | None = None) -> str:
    """Pull ``reference`` from its registry (what the local target runs); returns the image id."""
    repository, _, tag = reference.rpartition(":")
    try:
        image = client.images.pull(repository, tag=tag, auth_config=auth)
    except docker.errors.APIError as exc:
        raise OperationError(
            f"cannot pull {reference}: {docker_reason(exc)}", hint="push it first (ca-consume-deploy push)"
        ) from exc
    return str(image.id)


def empty_repository(ecr: Any, repository: str) -> int:
    """Delete every image of ECR ``repository`` (CloudFormation cannot delete a repository that has any)."""
    ids: list[dict[str, str]] = []
    with aws.calling(
        f"cannot empty ECR repository {repository}",
        hint="the credentials need ecr:ListImages and ecr:BatchDeleteImage; rerun the teardown",
        network_hint="check network access to ECR (or AWS_ENDPOINT_URL_ECR) and the region, then rerun the teardown",
    ):
        try:
            for page in ecr.get_paginator("list_images").paginate(repositoryName=repository):
                ids.extend(page.get("imageIds", []))
            for i in range(0, len(ids), 100):
                ecr.batch_delete_image(repositoryName=repository, imageIds=ids[i : i + 100])
        except botocore.exceptions.ClientError as exc:
            if aws.error_code(exc) != "RepositoryNotFoundException":
                raise
            return 0
    log.info("deleted %d image(s) from ECR repository %s", len(ids), repository)
    return len(ids)
