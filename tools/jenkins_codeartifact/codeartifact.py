"""CodeArtifact as a package index: name rules, the authorization token (cached to expiry), the
repository endpoint and what a version already holds.

A narrow facade over boto3's codeartifact client; :mod:`.index` wraps it into the generic ``Index``
that publish and consume work on. This module never imports from them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import redact
from .dists import normalize
from .errors import ConfigError, OperationError, PreconditionError

# botocore is imported where it is used: name validation runs first thing in ca-publish, before the
# build starts, and that import takes a tenth of a second.

log = logging.getLogger(__name__)

# From botocore's codeartifact service model (DomainName, RepositoryName, AuthorizationTokenDurationSeconds).
DOMAIN_RE = re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")
REPOSITORY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
MIN_DURATION, MAX_DURATION = 900, 43200
REFRESH_MARGIN = 300.0  # a cached token is renewed this many seconds before it expires
USERNAME = "aws"  # CodeArtifact's fixed user name for pip and twine
CREDENTIALS_HINT = "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE)"
# Versions CodeArtifact keeps but will not take new files for (user guide, "Package version status").
CLOSED_STATUSES = ("Archived", "Disposed")


@dataclass(frozen=True)
class Asset:
    """One file of a package version, as ListPackageVersionAssets reports it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class VersionInfo:
    """A package version as DescribePackageVersion / ListPackageVersions report it."""

    version: str
    status: str
    revision: str
    origin_type: str = "INTERNAL"  # EXTERNAL: it came from an external connection (public PyPI)
    origin_repository: str | None = None  # the repository it entered the domain through
    published: float | None = None  # epoch seconds (DescribePackageVersion only)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> VersionInfo:
        origin = data.get("origin") or {}
        published = data.get("publishedTime")
        return cls(
            version=str(data["version"]),
            status=str(data.get("status") or "Published"),
            revision=str(data.get("revision") or ""),
            origin_type=str(origin.get("originType") or "INTERNAL"),
            origin_repository=(origin.get("domainEntryPoint") or {}).get("repositoryName"),
            published=published.timestamp() if isinstance(published, dt.datetime) else published,
        )


def validate_duration(seconds: int) -> int:
    if seconds != 0 and not MIN_DURATION <= seconds <= MAX_DURATION:
        raise ConfigError(
            f"token duration {seconds}: must be 0 (the session's lifetime) or {MIN_DURATION}..{MAX_DURATION} seconds"
        )
    return seconds


def validate(domain: str, repository: str, owner: str | None, endpoint_type: str, duration: int) -> None:
    """Check names like the service does, before any credentials or network are involved."""
    if not DOMAIN_RE.fullmatch(domain):
        raise ConfigError(
            f"domain {domain!r}: not a valid CodeArtifact domain name",
            hint="2-50 characters: lower-case letters, digits and '-', starting with a letter",
        )
    if not REPOSITORY_RE.fullmatch(repository):
        raise ConfigError(
            f"repository {repository!r}: not a valid CodeArtifact repository name",
            hint="2-100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    if owner is not None and not ACCOUNT_RE.fullmatch(owner):
        raise ConfigError(f"domain owner {owner!r}: must be a 12-digit AWS account id")
    if endpoint_type not in ("ipv4", "dualstack"):
        raise ConfigError(f"endpoint type {endpoint_type!r}: must be ipv4 or dualstack")
    validate_duration(duration)


class _Client(Protocol):  # the four calls we make; tests may pass botocore Stubber-wrapped clients
    def get_authorization_token(self, **kw: Any) -> dict[str, Any]: ...
    def get_repository_endpoint(self, **kw: Any) -> dict[str, Any]: ...
    def describe_package_version(self, **kw: Any) -> dict[str, Any]: ...
    def list_package_version_assets(self, **kw: Any) -> dict[str, Any]: ...


@dataclass
class CodeArtifact:
    """A narrow facade over the codeartifact client: only what publishing and consuming need."""

    client: _Client
    domain: str
    repository: str
    domain_owner: str | None = None
    duration: int = 3600
    endpoint_type: str = "ipv4"
    clock: Callable[[], float] = time.time
    _endpoint: str | None = field(default=None, repr=False)
    _token: tuple[str, float] | None = field(default=None, repr=False)  # value, expiry (epoch s)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        validate(self.domain, self.repository, self.domain_owner, self.endpoint_type, self.duration)

    def _where(self) -> dict[str, Any]:
        where = {"domain": self.domain}
        if self.domain_owner:
            where["domainOwner"] = self.domain_owner
        return where

    def _call(
        self, what: str, fn: Callable[..., dict[str, Any]], *, missing_ok: bool = False, **kw: Any
    ) -> dict[str, Any] | None:
        """Call the API; errors become ours with a next step. ``missing_ok``: a package or version that is
        not found answers None (a missing domain or repository is still an error)."""
        import botocore.exceptions

        from .aws import CREDENTIAL_CODES, error_code, error_message

        try:
            return fn(**kw)
        except botocore.exceptions.ClientError as exc:
            code, msg = error_code(exc) or "Error", error_message(exc)
            if code == "ResourceNotFoundException":
                if missing_ok and exc.response.get("resourceType") in ("package", "package-version"):
                    return None
                raise ConfigError(
                    f"CodeArtifact {what}: {msg}",
                    hint=f"check the domain ({self.domain}), its owner, the repository ({self.repository}) "
                    "and the region: CA_DOMAIN, CA_DOMAIN_OWNER, CA_REPOSITORY, AWS_REGION",
                ) from exc
            if code in CREDENTIAL_CODES:
                raise ConfigError(f"CodeArtifact {what}: {code}: {msg}", hint=CREDENTIALS_HINT) from exc
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            attempts = exc.response.get("ResponseMetadata", {}).get("MaxAttemptsReached")
            hint = {
                "AccessDeniedException": "the credentials lack codeartifact permissions (and sts:GetServiceBearerToken "
                "for tokens)",
                "ThrottlingException": "CodeArtifact throttled every attempt"
                + (" (retries exhausted)" if attempts else "")
                + "; GetAuthorizationToken allows 40 calls per second per account: rerun later, or stagger the agents",
            }.get(code, f"check domain {self.domain!r}, repository {self.repository!r} and the region")
            where = f" (HTTP {status})" if status else ""
            raise OperationError(f"CodeArtifact {what} failed: {code}{where}: {msg}", hint=hint) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise OperationError(
                f"CodeArtifact {what} failed: {exc}",
                hint="check network access to CodeArtifact (or AWS_ENDPOINT_URL_CODEARTIFACT)",
            ) from exc

    def token(self) -> str:
        """An authorization token, reused from memory until REFRESH_MARGIN before its expiration."""
        with self._lock:
            now = self.clock()
            if self._token and self._token[1] - REFRESH_MARGIN > now:
                return self._token[0]
            kw: dict[str, Any] = {**self._where(), "durationSeconds": self.duration}
            resp = self._call("GetAuthorizationToken", self.client.get_authorization_token, **kw)
            assert resp is not None
            value = str(resp["authorizationToken"])
            redact.register(value)
            expiration = resp.get("expiration")
            expires = expiration.timestamp() if isinstance(expiration, dt.datetime) else now + (self.duration or 3600)
            self._token = (value, expires)
            log.debug("CodeArtifact token obtained, valid for %.0fs", expires - now)
            return value

    def token_expiry(self) -> float | None:
        """When the current token expires (epoch seconds), or None before the first :meth:`token`."""
        return self._token[1] if self._token else None

    def call(
        self, operation: str, *, repository: str | None = None, missing_ok: bool = False, **kw: Any
    ) -> dict[str, Any] | None:
        """Any codeartifact operation (by its API name, ``CopyPackageVersions``) on this domain, with the one
        error mapping.

        ``repository``: a repository other than this facade's (promotion reads two); ``package`` is
        normalised and ``format`` is pypi unless given. ``missing_ok`` as in :meth:`_call`.
        """
        args: dict[str, Any] = {**self._where(), **kw}
        if "package" in args:
            args["package"] = normalize(str(args["package"]))
            args.setdefault("format", "pypi")
        if repository is not None:
            args["repository"] = repository
        from botocore import xform_name

        return self._call(operation, getattr(self.client, xform_name(operation)), missing_ok=missing_ok, **args)

    def describe(self, name: str, version: str, repository: str | None = None) -> VersionInfo | None:
        """``name==version`` as DescribePackageVersion sees it (status, revision, origin), or None."""
        resp = self.call(
            "DescribePackageVersion",
            repository=repository or self.repository,
            missing_ok=True,
            package=name,
            packageVersion=version,
        )
        if resp is None:
            return None
        return VersionInfo.from_api(resp["packageVersion"])

    def assets(self, name: str, version: str, repository: str | None = None) -> tuple[str, dict[str, Asset]] | None:
        """The version's revision and its files by name (size, SHA-256), every page; None if it is absent."""
        found: dict[str, Asset] = {}
        revision, token = "", None
        while True:
            resp = self.call(
                "ListPackageVersionAssets",
                repository=repository or self.repository,
                missing_ok=True,
                package=name,
                packageVersion=version,
                maxResults=1000,
                **({"nextToken": token} if token else {}),
            )
            if resp is None:
                return None
            revision = str(resp.get("versionRevision") or revision)
            for item in resp.get("assets", []):
                asset = Asset(
                    str(item["name"]), int(item.get("size") or 0), str(item.get("hashes", {}).get("SHA-256", ""))
                )
                found[asset.name] = asset
            token = resp.get("nextToken")
            if not token:
                return revision, found

    def upstreams(self, repository: str | None = None) -> list[str]:
        """The repository's upstream repositories, in search order (DescribeRepository)."""
        resp = self.call("DescribeRepository", repository=repository or self.repository)
        assert resp is not None
        return [str(u["repositoryName"]) for u in resp.get("repository", {}).get("upstreams", [])]

    def versions(self, name: str, repository: str | None = None) -> list[VersionInfo]:
        """Every version of ``name`` in the repository, newest published first (ListPackageVersions, all pages)."""
        out: list[VersionInfo] = []
        token: str | None = None
        while True:
            resp = self.call(
                "ListPackageVersions",
                repository=repository or self.repository,
                missing_ok=True,
                package=name,
                sortBy="PUBLISHED_TIME",
                maxResults=1000,
                **({"nextToken": token} if token else {}),
            )
            if resp is None:
                return out
            out.extend(VersionInfo.from_api(v) for v in resp.get("versions", []))
            token = resp.get("nextToken")
            if not token:
                return out

    def endpoint(self) -> str:
        """The repository's pypi endpoint: the twine upload URL; ``simple/`` under it is pip's index."""
        if self._endpoint is None:
            resp = self._call(
                "GetRepositoryEndpoint",
                self.client.get_repository_endpoint,
                **self._where(),
                repository=self.repository,
                format="pypi",
                endpointType=self.endpoint_type,
            )
            assert resp is not None
            url = str(resp["repositoryEndpoint"])
            self._endpoint = url if url.endswith("/") else url + "/"
        return self._endpoint

    def version_files(self, name: str, version: str) -> set[str] | None:
        """File names of ``name==version`` in the repository, or None if that version does not exist.

        The API wants the normalised name. A Deleted version, or one that vanishes between the two calls,
        is absent. Archived and Disposed versions exist but take no files: PreconditionError (exit 3).
        """
        kw: dict[str, Any] = {
            **self._where(),
            "repository": self.repository,
            "format": "pypi",
            "package": normalize(name),
            "packageVersion": version,
        }
        found = self._call("DescribePackageVersion", self.client.describe_package_version, missing_ok=True, **kw)
        status = str((found or {}).get("packageVersion", {}).get("status") or "Published")
        if found is None or status == "Deleted":
            return None
        if status in CLOSED_STATUSES:
            raise PreconditionError(
                f"{name} {version} is {status} in CodeArtifact {self.domain}/{self.repository}: "
                "it cannot take files any more, so it can be neither published again nor topped up",
                hint="raise the version in pyproject.toml"
                + (
                    "; or restore it: aws codeartifact update-package-versions-status --target-status Published"
                    if status == "Archived"
                    else ""
                ),
            )
        files: set[str] = set()
        token: str | None = None
        while True:
            page_kw = {**kw, "maxResults": 1000, **({"nextToken": token} if token else {})}
            resp = self._call(
                "ListPackageVersionAssets", self.client.list_package_version_assets, missing_ok=True, **page_kw
            )
            if resp is None:
                return None  # deleted meanwhile: absent, not "exists with no files"
            files.update(str(a["name"]) for a in resp.get("assets", []))
            token = resp.get("nextToken")
            if not token:
                return files
