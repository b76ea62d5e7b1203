"""Where packages live and how to reach them: any PyPI-compatible index (simple API), or CodeArtifact.

:func:`resolve_index` turns settings into an :class:`Index`: an upload URL for twine, a PEP 503 simple
URL for pip, and credentials. Everything downstream (publish, image build) works on an ``Index`` and
does not care whether CodeArtifact, devpi, Nexus or Artifactory is behind it.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from . import indexhttp, netpolicy, redact
from .codeartifact import USERNAME, CodeArtifact, validate
from .dists import normalize, parse_dist
from .errors import ConfigError, OperationError, PreconditionError
from .settings import Settings

if TYPE_CHECKING:
    import requests

# requests is imported where it is used: this module's validation runs first thing in ca-publish,
# before the build starts, and that import takes a tenth of a second.

log = logging.getLogger(__name__)


@dataclass
class Index:
    """A PyPI-compatible index with credentials: where twine uploads and pip installs from.

    Not frozen: ``links`` fills in as simple-API pages are read (what :meth:`download` fetches), and for
    CodeArtifact :meth:`credentials` may renew the token through the AWS API.
    """

    upload_url: str
    simple_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    codeartifact: CodeArtifact | None = field(default=None, repr=False, compare=False)
    description: str = ""
    # file name -> absolute URL, from the last simple-API page read (what download() fetches)
    links: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def credentials(self) -> tuple[str, str] | None:
        """Basic-auth credentials to send now, when the index has them. For CodeArtifact the password is a
        token that is not about to expire (a long build may outlive the one fetched at the start): this
        may call GetAuthorizationToken."""
        password = self.codeartifact.token() if self.codeartifact is not None else self.password
        return (self.username, password) if self.username and password else None

    @functools.cached_property
    def session(self) -> requests.Session:
        """The session every request to this index goes through (timeouts, retries, credentials)."""
        session = indexhttp.http_session(self.credentials())
        if self.codeartifact is not None:
            session.auth = _CurrentToken(self)  # asked per request: a long run gets a fresh token
        return session

    def pip_index_url(self) -> str:
        """``simple_url`` with the credentials embedded, as pip expects; the password stays registered."""
        auth = self.credentials()
        if auth is None:
            return self.simple_url
        parts = urllib.parse.urlsplit(self.simple_url)
        user, password = (urllib.parse.quote(part, safe="") for part in auth)
        redact.register(password)
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))

    def version_files(self, name: str, version: str) -> set[str] | None:
        """File names already published for ``name==version``, or None if the version is absent."""
        if self.codeartifact is not None:
            return self.codeartifact.version_files(name, version)
        found = self.simple_files(name, version)
        return set(found) if found is not None else None

    def simple_files(self, name: str, version: str) -> dict[str, str | None] | None:
        """``{file name: sha256 or None}`` of ``name==version`` on the simple API; None if it has none.

        Asks PEP 691 JSON (``hashes``), else reads PEP 503 HTML (``#sha256=`` fragments). This is what
        decides whether an upload that failed ambiguously landed, and whether an existing file is ours.
        """
        url = urllib.parse.urljoin(self.simple_url, normalize(name) + "/")
        accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
        import requests

        try:
            resp = self.session.get(url, headers={"Accept": accept})
        except (requests.RequestException, OSError) as exc:
            raise OperationError(
                f"index unreachable: {self.simple_url}: {netpolicy.describe_failure(exc)}",
                hint="check the URL and that the index is up, then run again",
            ) from None
        if resp.status_code == 404:
            return None
        raise_for_auth(resp, self.simple_url)
        if not resp.ok:
            raise OperationError(
                f"index unreachable: {self.simple_url} answered HTTP {resp.status_code} for {url}",
                hint="the index is failing or overloaded; run again when it answers",
            )
        files = {}
        for filename, (link, digest) in _page_files(resp, url, self.simple_url).items():
            files[filename] = digest
            self.links[filename] = link
        wanted = (normalize(name), Version(version))
        found = {n: (h.lower() if isinstance(h, str) else None) for n, h in files.items() if parse_dist(n) == wanted}
        return found or None

    def check_reachable(self, project: str | None, sleep: Callable[[float], None] = time.sleep) -> None:
        """Fail (exit 3) before anything is built when the index refuses the credentials or does not answer.

        Asks for one project's page: the root of a simple index with a PyPI upstream lists every project on
        PyPI, which takes seconds to serve. Retried under :data:`netpolicy.INDEX_CHECK`; an outage that
        lasts would otherwise surface later as the installer's misleading "no matching distribution".
        """
        import requests

        url = self.simple_url + (f"{normalize(project)}/" if project else "")
        policy = netpolicy.INDEX_CHECK

        def send() -> requests.Response:
            headers = {"Accept": "text/html"}
            with requests.get(url, auth=self.credentials(), timeout=policy.timeout, headers=headers, stream=True) as r:
                return r  # the status and headers are all it needs: the body is never read

        try:
            answer = netpolicy.request(send, policy, f"index check {url}", log, sleep)
        except netpolicy.RetriesExhausted as exc:
            raise PreconditionError(
                f"index unreachable: {url} {exc.cause}, {exc.attempts} attempts; nothing was built",
                hint="check that the index (CodeArtifact, devpi, a proxy) is up and reachable from this agent, "
                "then rerun",
            ) from None
        raise_for_auth(
            answer,
            self.simple_url,
            hint="the CodeArtifact token may have expired or lack codeartifact:ReadFromRepository; rerun to get a "
            "fresh one, or check CA_INDEX_USERNAME/CA_INDEX_PASSWORD",
        )  # 200, or a 404 the installer will explain (the project is not published)

    def project_page(self, project: str) -> ProjectPage:
        """One GET of ``project``'s page, never raising: what a failed install could not tell (0: no answer)."""
        import requests

        url = self.simple_url + f"{normalize(project)}/"
        accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
        try:
            resp = requests.get(
                url, auth=self.credentials(), timeout=netpolicy.INDEX_CHECK.timeout, headers={"Accept": accept}
            )
        except requests.RequestException:
            return ProjectPage(0)
        if resp.status_code != 200:
            return ProjectPage(resp.status_code)
        try:
            return ProjectPage(200, tuple(_page_files(resp, url, self.simple_url)))
        except OperationError:
            return ProjectPage(200)

    def download(self, filename: str, target: Path) -> bool:
        """Fetch a file the last :meth:`simple_files` listed into ``target``; False if it cannot be had."""
        import requests

        url = self.links.get(filename)
        if url is None:
            return False
        try:
            resp = self.session.get(url)
        except (requests.RequestException, OSError) as exc:
            log.warning("could not fetch %s from the index: %s", filename, netpolicy.describe_failure(exc))
            return False
        if not resp.ok:
            log.warning("could not fetch %s from the index: HTTP %s", filename, resp.status_code)
            return False
        target.write_bytes(resp.content)
        return True


@dataclass(frozen=True)
class ProjectPage:
    """What the index answered for one project: HTTP status (0: no answer) and its file names."""

    status: int
    files: tuple[str, ...] = ()


def _page_files(resp: requests.Response, url: str, where: str) -> dict[str, tuple[str, str | None]]:
    """``{file name: (absolute URL, sha256 or None)}`` of a simple-API page: PEP 691 JSON, else PEP 503 HTML."""
    if "json" in resp.headers.get("Content-Type", ""):
        try:
            return {
                str(f["filename"]): (urllib.parse.urljoin(url, str(f["url"])), (f.get("hashes") or {}).get("sha256"))
                for f in resp.json().get("files", [])
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OperationError(f"index {where} sent a malformed simple-API page for {url}") from None
    files: dict[str, tuple[str, str | None]] = {}
    for href in re.findall(r'href="([^"]+)"', resp.text):
        link, _, fragment = href.partition("#")
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else None
        files[urllib.parse.unquote(link.rsplit("/", 1)[-1])] = (urllib.parse.urljoin(url, link), digest)
    return files


class _CurrentToken:
    """requests auth that sends the index's current credentials (a renewed CodeArtifact token) each time."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def __call__(self, request: Any) -> Any:
        import requests.auth

        auth = self.index.credentials()
        return requests.auth.HTTPBasicAuth(*auth)(request) if auth else request


def raise_for_auth(resp: requests.Response, where: str, hint: str | None = None) -> None:
    """A 401/403 from an index as one clear error: the credentials, not the network, are the problem."""
    if resp.status_code in (401, 403):
        raise OperationError(
            f"index {where} refused the credentials (HTTP {resp.status_code})",
            hint=hint or "the token may have expired or lack permission; get a fresh one and check the user",
        )


def check_settings(settings: Settings) -> None:
    """Refuse incomplete or malformed index settings before any credentials, network or build."""
    for flag, url in (("--repository-url", settings.repository_url), ("--simple-url", settings.simple_url)):
        if url:
            _check_url(flag, url)
    if settings.repository_url:
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


def _check_url(flag: str, url: str) -> None:
    """An http(s) URL without credentials in it: a password there shows up in Jenkins' console and in ps."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        redact.register(parts.password)
        redact.register(urllib.parse.unquote(parts.password))
    if parts.username is not None or parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        shown = urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
        raise ConfigError(
            f"{flag} {shown}: credentials in the URL are refused",
            hint="pass the URL without user:password@ and set CA_INDEX_USERNAME and CA_INDEX_PASSWORD instead",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{flag} {url!r}: must be an http(s) URL")


def resolve_index(
    settings: Settings, client_factory: Callable[[Settings], Any] | None = None, clock: Callable[[], float] = time.time
) -> Index:
    """The index ``settings`` point at: a generic URL, or a CodeArtifact repository via boto3.
    ``clock`` decides when a token is renewed (tests share one with the stand-in)."""
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
            return aws.client(aws.session(s), "codeartifact")

    ca = CodeArtifact(
        client=client_factory(settings),
        domain=settings.domain,
        repository=settings.repository,
        domain_owner=settings.domain_owner,
        duration=settings.token_duration,
        endpoint_type=settings.endpoint_type,
        clock=clock,
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
        resp = indexhttp.http_session(
            auth, retries=0, timeout=min(indexhttp.POLICY.connect, indexhttp.POLICY.read)
        ).head(upload_url, allow_redirects=True)
    except (requests.RequestException, OSError):
        return upload_url + "simple/"  # the version check will report the outage with its own message
    return upload_url + ("+simple/" if "X-Devpi-Server-Version" in resp.headers else "simple/")
