"""Where packages live and how to reach them: CodeArtifact (token, endpoint, versions) or any PyPI index.

:func:`resolve_index` turns settings into an :class:`Index`: an upload URL for twine, a PEP 503 simple
URL for pip, and credentials. Everything downstream (publish, image build) works on an ``Index`` and
does not care whether CodeArtifact, devpi, Nexus or Artifactory is behind it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from packaging.utils import canonicalize_name
from packaging.version import Version

from . import redact
from .dists import parse_dist
from .errors import ConfigError, OperationError
from .settings import Settings

if TYPE_CHECKING:
    import requests

# botocore and requests are imported where they are used: this module's validation runs first thing in
# ca-publish, before the build starts, and those imports take a tenth of a second.

log = logging.getLogger(__name__)

# From botocore's codeartifact service model (DomainName, RepositoryName, AuthorizationTokenDurationSeconds).
DOMAIN_RE = re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")
REPOSITORY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
MIN_DURATION, MAX_DURATION = 900, 43200
REFRESH_MARGIN = 300.0  # a cached token is renewed this many seconds before it expires
USERNAME = "aws"  # CodeArtifact's fixed user name for pip and twine


def normalize(name: str) -> str:
    """PEP 503 normalised project name, as CodeArtifact stores Python packages."""
    return str(canonicalize_name(name))


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
        """Call the API; errors become ours with a next step. ``missing_ok``: a 404 answers None."""
        import botocore.exceptions

        try:
            return fn(**kw)
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error", {})
            code, msg = err.get("Code", "Error"), err.get("Message", str(exc))
            if code == "ResourceNotFoundException":
                if missing_ok:
                    return None
                raise ConfigError(
                    f"CodeArtifact {what}: {msg}",
                    hint=f"check the domain ({self.domain}), its owner, the repository ({self.repository}) "
                    "and the region: CA_DOMAIN, CA_DOMAIN_OWNER, CA_REPOSITORY, AWS_REGION",
                ) from exc
            hint = {
                "AccessDeniedException": "the credentials lack codeartifact permissions (and sts:GetServiceBearerToken "
                "for tokens)",
                "UnrecognizedClientException": "the AWS credentials are invalid or expired",
                "ExpiredTokenException": "the AWS session credentials expired",
            }.get(code, f"check domain {self.domain!r}, repository {self.repository!r} and the region")
            raise OperationError(f"CodeArtifact {what} failed: {code}: {msg}", hint=hint) from exc
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

        Any status (Published, Unfinished, Archived, Disposed...) counts as existing: CodeArtifact refuses
        to publish over it all the same.
        """
        kw: dict[str, Any] = {
            **self._where(),
            "repository": self.repository,
            "format": "pypi",
            "package": normalize(name),
            "packageVersion": version,
        }
        if self._call("DescribePackageVersion", self.client.describe_package_version, missing_ok=True, **kw) is None:
            return None
        files: set[str] = set()
        token: str | None = None
        while True:
            page_kw = {**kw, "maxResults": 1000, **({"nextToken": token} if token else {})}
            resp = self._call(
                "ListPackageVersionAssets", self.client.list_package_version_assets, missing_ok=True, **page_kw
            )
            if resp is None:
                return files
            files.update(str(a["name"]) for a in resp.get("assets", []))
            token = resp.get("nextToken")
            if not token:
                return files


@dataclass(frozen=True)
class Index:
    """A PyPI-compatible index with credentials: where twine uploads and pip installs from."""

    upload_url: str
    simple_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    codeartifact: CodeArtifact | None = field(default=None, repr=False, compare=False)
    description: str = ""

    @property
    def auth(self) -> tuple[str, str] | None:
        """Basic-auth credentials for requests, when the index has them."""
        return (self.username, self.password) if self.username and self.password else None

    def pip_index_url(self) -> str:
        """``simple_url`` with the credentials embedded, as pip expects; the password stays registered."""
        if self.auth is None:
            return self.simple_url
        parts = urllib.parse.urlsplit(self.simple_url)
        user, password = (urllib.parse.quote(part, safe="") for part in self.auth)
        redact.register(password)
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))

    def version_files(self, name: str, version: str) -> set[str] | None:
        """File names already published for ``name==version``, or None if the version is absent."""
        if self.codeartifact is not None:
            return self.codeartifact.version_files(name, version)
        return _simple_version_files(self, name, version)


def _simple_version_files(index: Index, name: str, version: str) -> set[str] | None:
    """Ask the simple API (PEP 691 JSON, else PEP 503 HTML) which files of ``name==version`` exist."""
    import requests

    url = urllib.parse.urljoin(index.simple_url, normalize(name) + "/")
    auth = index.auth
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    try:
        resp = requests.get(url, headers={"Accept": accept}, auth=auth, timeout=30)
    except requests.RequestException as exc:
        raise OperationError(
            f"index {index.simple_url} is unreachable: {type(exc).__name__}",
            hint="check the URL and that the index is up",
        ) from None
    if resp.status_code == 404:
        return None
    raise_for_auth(resp, index.simple_url)
    if not resp.ok:
        raise OperationError(f"index {index.simple_url} answered HTTP {resp.status_code} for {url}")
    if "json" in resp.headers.get("Content-Type", ""):
        try:
            names = [str(f["filename"]) for f in resp.json().get("files", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OperationError(f"index {index.simple_url} sent a malformed simple-API page for {url}") from None
    else:
        names = [
            urllib.parse.unquote(h.split("#")[0].rsplit("/", 1)[-1]) for h in re.findall(r'href="([^"]+)"', resp.text)
        ]
    wanted = (normalize(name), Version(version))
    found = {n for n in names if parse_dist(n) == wanted}
    return found or None


def raise_for_auth(resp: requests.Response, where: str, hint: str | None = None) -> None:
    """A 401/403 from an index as one clear error: the credentials, not the network, are the problem."""
    if resp.status_code in (401, 403):
        raise OperationError(
            f"index {where} refused the credentials (HTTP {resp.status_code})",
            hint=hint or "the token may have expired or lack permission; get a fresh one and check the user",
        )


def check_settings(settings: Settings) -> None:
    """Refuse incomplete or malformed index settings before any credentials, network or build."""
    if settings.repository_url:
        if not settings.repository_url.startswith(("http://", "https://")):
            raise ConfigError(f"--repository-url {settings.repository_url!r}: must be an http(s) URL")
        return
    missing = [f"--{n.replace('_', '-')}" for n in ("domain", "repository") if not getattr(settings, n)]
    if missing:
        raise ConfigError(
            f"missing {' and '.join(missing)}",
            hint="set CA_DOMAIN and CA_REPOSITORY (or pass --repository-url for another index)",
        )
    assert settings.domain and settings.repository
    validate(
        settings.domain, settings.repository, settings.domain_owner, settings.endpoint_type, settings.token_duration
    )


def resolve_index(settings: Settings, client_factory: Callable[[Settings], Any] | None = None) -> Index:
    """The index ``settings`` point at: a generic URL, or a CodeArtifact repository via boto3."""
    check_settings(settings)
    if settings.repository_url:
        url = settings.repository_url.rstrip("/") + "/"
        redact.register(settings.index_password)
        return Index(
            upload_url=url,
            simple_url=settings.simple_url or _default_simple(url, settings),
            username=settings.index_username,
            password=settings.index_password,
            description=url,
        )
    assert settings.domain and settings.repository
    if client_factory is None:
        from . import aws

        def client_factory(s: Settings) -> Any:
            return aws.session(s).client("codeartifact")

    ca = CodeArtifact(
        client=client_factory(settings),
        domain=settings.domain,
        repository=settings.repository,
        domain_owner=settings.domain_owner,
        duration=settings.token_duration,
        endpoint_type=settings.endpoint_type,
    )
    endpoint = ca.endpoint()
    return Index(
        upload_url=endpoint,
        simple_url=endpoint + "simple/",
        username=USERNAME,
        password=ca.token(),
        codeartifact=ca,
        description=f"CodeArtifact {settings.domain}/{settings.repository}",
    )


def _default_simple(upload_url: str, settings: Settings) -> str:
    """Simple-index URL for a generic upload URL: ``simple/`` below it (Nexus, Artifactory, PyPI), except
    on devpi, which serves ``+simple/`` and says so in its ``X-Devpi-Server-Version`` header."""
    import requests

    user, password = settings.index_username, settings.index_password
    auth = (user, password) if user and password else None
    try:
        resp = requests.head(upload_url, auth=auth, timeout=10, allow_redirects=True)
    except requests.RequestException:
        return upload_url + "simple/"  # the version check will report the outage with its own message
    return upload_url + ("+simple/" if "X-Devpi-Server-Version" in resp.headers else "simple/")
