"""A local stand-in for the CodeArtifact API and a repository's pypi endpoint, backed by a devpi index.

Real boto3, twine and pip talk to it exactly as to CodeArtifact:

* ``/v1/...``: the REST paths of botocore's codeartifact model for GetAuthorizationToken,
  GetRepositoryEndpoint, DescribePackageVersion, ListPackageVersionAssets, and (in
  :mod:`.codeartifact_repo`) UpdatePackageVersionsStatus, DisposePackageVersions, CopyPackageVersions,
  ListPackageVersions, DeletePackageVersions, DescribePackage and GetAssociatedPackageGroup.
  Query parameters are validated against that same model (lengths,
  patterns, enums, ranges) and errors are rest-json: status + ``x-amzn-ErrorType`` +
  ``{"message": ...}``. Requests must be SigV4-signed with the sandbox's access key (the signature is
  verified). Names are taken as given: pypi packages must be asked for by their normalised name.
  Quotas answer 429 ``ThrottlingException`` with ``Retry-After`` (see :mod:`.codeartifact_state`).
* ``/pypi/<repository>/``: the endpoint GetRepositoryEndpoint returns. A POST is a twine upload, and
  ``simple/<project>/`` under it is a PEP 503/691 project page, both forwarded to the devpi index (which
  serves them at ``+simple/``); the root ``simple/`` listing is not served, as on CodeArtifact. Like
  CodeArtifact it demands HTTP basic auth as user ``aws`` with a current token (401 once it expired);
  the stand-in then talks to devpi with devpi's own password.
* ``/<user>/<index>/+f/...``: the distribution files the simple pages link to (relative links), so pip
  sends its credentials to the same host and port.

Uploads behave like CodeArtifact's: a byte-identical file that is already there succeeds (idempotent;
devpi answers 200 "Upload of identical file"), different bytes get 409, and a version that public PyPI
offers through the upstream is refused with 409 (package origin controls).

The pypi endpoint lives in :mod:`.codeartifact_pypi`, the SigV4 check in :mod:`.codeartifact_sigv4`, the
operations' model in :mod:`.codeartifact_model` and what the service remembers in :mod:`.codeartifact_state`.
Run as ``python -m jenkins_codeartifact.sandbox.codeartifact_api``; tests may use :func:`make_server`
with their own :class:`Backend`.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from .. import redact
from ..codeartifact import MAX_DURATION, MIN_DURATION  # AuthorizationTokenDurationSeconds' bounds, once
from . import DOMAIN, DOMAIN_OWNER, REGION, REPOSITORY, devpi
from .codeartifact_model import ApiError, Backend, DevpiBackend, decode_page_token, routes, validate
from .codeartifact_pypi import CHUNK, PypiEndpoint
from .codeartifact_repo import INTERNAL_GROUP, PackageGroup, RepositoryOperations
from .codeartifact_sigv4 import check_signature
from .codeartifact_state import DEFAULT_DURATION, Faults, Throttle, Tokens, Versions

log = logging.getLogger(__name__)

DEFAULT_MAX_RESULTS = 100
IMPLEMENTED = (
    "GetAuthorizationToken",
    "GetRepositoryEndpoint",
    "DescribePackageVersion",
    "ListPackageVersionAssets",
    "UpdatePackageVersionsStatus",
    "DisposePackageVersions",
    "CopyPackageVersions",
    "ListPackageVersions",
    "DeletePackageVersions",
    "DescribePackage",
    "GetAssociatedPackageGroup",
    "DescribeRepository",
)


@dataclass
class Config:
    """What the stand-in pretends to be: one domain of one account with repositories mapped to devpi indexes."""

    domain: str = DOMAIN
    owner: str = DOMAIN_OWNER
    region: str = REGION
    repositories: dict[str, str] = field(default_factory=lambda: {REPOSITORY: f"{devpi.USER}/{devpi.INDEX}"})
    public_url: str = "http://127.0.0.1:3142"  # where clients reach this server: base of the endpoints
    devpi_url: str | None = None  # forward pypi endpoint traffic here (None: no proxy, e.g. unit tests)
    access_key_id: str | None = None  # None: accept any signed request
    secret_access_key: str | None = field(default=None, repr=False)
    clock: Callable[[], float] = time.time  # tests move time forward instead of sleeping
    session_seconds: int = 3600  # what is left of a role session (durationSeconds=0 with session credentials)
    package_groups: list[PackageGroup] = field(default_factory=list)  # besides the root group /*
    upstreams: dict[str, list[str]] = field(default_factory=dict)  # repository -> its upstream repositories
    upstream_delay: bool = False  # the first fetch of each upstream file answers 404 (import not finished)


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


class Handler(RepositoryOperations, PypiEndpoint):
    """One request: the AWS API under ``/v1/``, the pypi endpoint and its files everywhere else."""

    server: StandIn
    protocol_version = "HTTP/1.0"  # proxied bodies stream until close: no re-chunking needed
    server_version = "codeartifact-standin"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), redact.scrub(format % args))

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    # -- plumbing -----------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)  # pip quotes "+" in file links
        self._unread = int(self.headers.get("Content-Length") or 0)
        try:
            if path.startswith("/v1/"):
                self._api()
            elif path.startswith("/pypi/") or "/+f/" in path:
                self._pypi(path)
            else:
                raise ApiError(404, "UnknownOperationException", f"no route for {self.command} {path}")
        except ApiError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.exception("internal error")
            self._send_error(ApiError(500, "InternalServerException", f"{type(exc).__name__}: {exc}"))

    def _body(self) -> bytes:
        return self._read(self._unread)

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = _json(data)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", f"{time.time_ns():x}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, exc: ApiError) -> None:
        while self._unread > 0 and self._read(CHUNK):  # an upload refused early: read it, or the client sees a reset
            pass
        headers = {"x-amzn-ErrorType": exc.code, **exc.headers}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="codeartifact-standin"'
        self._send_json(exc.status, {"message": exc.message, **exc.extra}, headers)

    # -- the AWS API --------------------------------------------------------------------------------------

    def _api(self) -> None:
        body = self._body()
        config = self.server.config
        check_signature(self.command, self.path, self.headers, body, config.access_key_id, config.secret_access_key)
        parts = urllib.parse.urlsplit(self.path)
        operation = self.server.routes.get((self.command, parts.path))
        if operation is None:
            raise ApiError(404, "UnknownOperationException", f"unknown operation {self.command} {parts.path}")
        if operation not in IMPLEMENTED:
            raise ApiError(501, "NotImplemented", f"{operation} is not implemented by the sandbox stand-in")
        retry_after = self.server.throttle.check(operation)
        if retry_after is not None:
            raise ApiError(429, "ThrottlingException", "Rate exceeded", headers={"Retry-After": str(retry_after)})
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        params = validate(operation, query)
        if body:
            try:
                params.update(json.loads(body))
            except ValueError:
                raise ApiError(400, "ValidationException", "the request body is not JSON") from None
        self._check_domain(operation, params)
        if self.server.faults.take(operation, after=False):
            raise ApiError(500, "InternalServerException", "Internal failure (forced)")
        result = getattr(self, "_op_" + operation)(params)
        if self.server.faults.take(operation, after=True):
            raise ApiError(500, "InternalServerException", "Internal failure (forced, after the change landed)")
        self._send_json(200, result)

    def _check_domain(self, operation: str, params: dict[str, Any]) -> None:
        config = self.server.config
        owner = params.get("domainOwner")
        if owner is not None and owner != config.owner:
            raise ApiError(
                403,
                "AccessDeniedException",
                f"User: arn:aws:iam::{config.owner}:user/sandbox is not authorized to perform: "
                f"codeartifact:{operation} on resource: arn:aws:codeartifact:{config.region}:{owner}:"
                f"domain/{params['domain']}",
            )
        if params["domain"] != config.domain:
            raise ApiError(
                404,
                "ResourceNotFoundException",
                f"Domain not found. Domain name '{params['domain']}' and Domain owner '{owner or config.owner}'",
                resourceId=params["domain"],
                resourceType="domain",
            )
        repository = params.get("repository")
        if repository is not None and repository not in config.repositories:
            raise ApiError(
                404,
                "ResourceNotFoundException",
                f"Repository not found. Repository name: '{repository}' in domain '{config.domain}'",
                resourceId=repository,
                resourceType="repository",
            )

    def _op_GetAuthorizationToken(self, params: dict[str, Any]) -> dict[str, Any]:
        """A new token on every call; 0 means the role session's remaining time (12 h without a session)."""
        duration = params.get("durationSeconds", DEFAULT_DURATION)
        if duration != 0 and not MIN_DURATION <= duration <= MAX_DURATION:
            raise ApiError(
                400,
                "ValidationException",
                f"durationSeconds must be 0 or between {MIN_DURATION} and {MAX_DURATION}, got {duration}",
                reason="FIELD_VALIDATION_FAILED",
            )
        if duration == 0:
            session = self.headers.get("X-Amz-Security-Token") is not None
            duration = min(self.server.config.session_seconds, DEFAULT_DURATION) if session else DEFAULT_DURATION
        token, expires = self.server.tokens.mint(duration)
        return {"authorizationToken": token, "expiration": expires}

    def _op_GetRepositoryEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        """ipv4 or dualstack: CodeArtifact answers different host names (amazonaws.com / on.aws); here the
        dual-stack name is ``localhost`` (IPv6 and IPv4), the other the configured IPv4 address."""
        parts = urllib.parse.urlsplit(self.server.config.public_url)
        if params.get("endpointType") == "dualstack" and parts.hostname == "127.0.0.1":
            parts = parts._replace(netloc=f"localhost:{parts.port}" if parts.port else "localhost")
        base = urllib.parse.urlunsplit(parts).rstrip("/")
        return {"repositoryEndpoint": f"{base}/{params['format']}/{params['repository']}/"}

    def _package_version(self, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """The version as stored. Python names are not normalised here: the API wants the normalised name
        (CodeArtifact user guide, "Python package name normalization"), any other spelling is not found."""
        package, version, repository = params["package"], params["packageVersion"], params["repository"]
        found = None
        status = self.server.versions.status(repository, package, version)
        normalised = package == canonicalize_name(package)
        if params["format"] == "pypi" and params.get("namespace") is None and status != "Deleted" and normalised:
            index = self.server.config.repositories[repository]
            found = self.server.backend.version(index, package, version)
        if found is None:
            raise ApiError(
                404,
                "ResourceNotFoundException",
                f"Package version not found. {params['format']} package '{package}' version '{version}' "
                f"in repository '{repository}'",
                resourceId=f"{package}@{version}",
                resourceType="package-version",
            )
        return package, version, {**found, "status": status}

    def _op_DescribePackageVersion(self, params: dict[str, Any]) -> dict[str, Any]:
        package, version, found = self._package_version(params)
        description = {
            "format": params["format"],
            "packageName": package,
            "displayName": found["displayName"],
            "version": version,
            "summary": found["summary"],
            "homePage": found["homePage"],
            "publishedTime": found["publishedTime"],
            "licenses": [{"name": found["license"]}] if found["license"] else [],
            "revision": found["revision"],
            "status": found["status"],
            "origin": {
                "domainEntryPoint": {
                    "repositoryName": self.server.versions.entry_point(params["repository"], package, version)
                },
                "originType": "INTERNAL",
            },
        }
        return {"packageVersion": description}

    def _op_ListPackageVersionAssets(self, params: dict[str, Any]) -> dict[str, Any]:
        package, version, found = self._package_version(params)
        index = self.server.config.repositories[params["repository"]]
        assets = [] if found["status"] == "Disposed" else self.server.backend.assets(index, package, version)
        start = decode_page_token(params.get("nextToken"))
        size = params.get("maxResults", DEFAULT_MAX_RESULTS)
        page = assets[start : start + size]
        result: dict[str, Any] = {
            "format": params["format"],
            "package": package,
            "version": version,
            "versionRevision": found["revision"],
            "assets": page,
        }
        if start + size < len(assets):
            result["nextToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        return result


class StandIn(ThreadingHTTPServer):
    """The HTTP server; holds the configuration and backend the handler threads share."""

    daemon_threads = True
    # socketserver's listen backlog is 5: uv opens its connections all at once, the kernel drops the
    # SYNs over the backlog and the client resends them after 1 s. The service takes what clients send.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], config: Config, backend: Backend) -> None:
        self.config, self.backend, self.routes = config, backend, routes()
        self.tokens = Tokens(backend.password(), config.clock)
        self.throttle = Throttle(config.clock)
        self.faults = Faults()
        self.fetched: set[str] = set()  # upstream files fetched once (the import delay)
        self.versions = Versions()
        super().__init__(address, Handler)


def make_server(config: Config, backend: Backend, host: str = "127.0.0.1", port: int = 0) -> StandIn:
    """A bound, not yet serving stand-in (``port=0``: any free port; see ``server_address``)."""
    return StandIn((host, port), config, backend)


def load_secrets(path: Path) -> dict[str, str]:
    """The 0600 JSON file the sandbox writes: devpi passwords and the fake AWS secret key."""
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    for value in data.values():
        redact.register(value)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codeartifact-standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3142)
    parser.add_argument("--public-url", help="base URL clients use (default http://HOST:PORT)")
    parser.add_argument("--devpi-url", required=True, help="devpi root URL")
    parser.add_argument("--secrets", type=Path, required=True, help="JSON file: aws_password, aws_secret_access_key")
    parser.add_argument("--access-key-id", help="the only access key accepted (default: any)")
    parser.add_argument("--domain", default=DOMAIN)
    parser.add_argument("--domain-owner", default=DOMAIN_OWNER)
    parser.add_argument("--region", default=REGION)
    parser.add_argument(
        "--repository",
        action="append",
        metavar="NAME=USER/INDEX",
        help=f"repository backed by a devpi index (default {REPOSITORY}={devpi.USER}/{devpi.INDEX})",
    )
    parser.add_argument(
        "--package-group",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a package group allowing publishing and blocking the public upstream (infra/codeartifact.yml's)",
    )
    parser.add_argument("--upstream-delay", action="store_true", help="first fetch of each upstream file: 404")
    args = parser.parse_args(argv)
    redact.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    secrets = load_secrets(args.secrets)
    repositories = dict(r.split("=", 1) for r in args.repository) if args.repository else None
    config = Config(
        domain=args.domain,
        owner=args.domain_owner,
        region=args.region,
        public_url=args.public_url or f"http://{args.host}:{args.port}",
        devpi_url=args.devpi_url,
        access_key_id=args.access_key_id,
        secret_access_key=secrets.get("aws_secret_access_key"),
        package_groups=[PackageGroup(p, dict(INTERNAL_GROUP)) for p in args.package_group],
        upstream_delay=args.upstream_delay,
    )
    if repositories:
        config.repositories = repositories
    server = make_server(config, DevpiBackend(args.devpi_url, secrets["aws_password"]), args.host, args.port)
    log.info("CodeArtifact stand-in on %s (devpi %s)", config.public_url, args.devpi_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
