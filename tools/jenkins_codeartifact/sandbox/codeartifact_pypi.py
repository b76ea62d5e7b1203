"""The repository's pypi endpoint in the CodeArtifact stand-in: token auth, and a stream to devpi.

``/pypi/<repository>/`` (twine's uploads, ``simple/<project>/`` pages) and the ``+f/`` files those
pages link to are forwarded to the devpi index behind the repository, after the basic-auth token check
CodeArtifact makes and its package origin controls; devpi's own URLs never reach the client.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..dists import parse_dist
from . import devpi
from .codeartifact_model import ApiError
from .codeartifact_repo import filter_page

if TYPE_CHECKING:
    from .codeartifact_api import StandIn

CHUNK = 64 * 1024
UPSTREAM_INDEX = "root/pypi"  # devpi's PyPI mirror: the files the upstream serves
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


class PypiEndpoint(BaseHTTPRequestHandler):
    """The pypi half of the stand-in's request handler (the API half is ``codeartifact_api.Handler``)."""

    server: StandIn
    _unread: int  # request body bytes not yet read (set per request by the handler)

    def group_publish(self, package: str) -> str:
        raise NotImplementedError  # codeartifact_repo.RepositoryOperations'

    def _read(self, size: int) -> bytes:
        data = self.rfile.read(min(size, self._unread)) if self._unread > 0 else b""
        self._unread = 0 if not data else self._unread - len(data)
        return data

    def _pypi(self, path: str) -> None:
        self._check_token()
        config = self.server.config
        if config.devpi_url is None:
            raise ApiError(404, "ResourceNotFoundException", "this stand-in has no package backend")
        target = path
        match = re.fullmatch(r"/pypi/(?P<repo>[^/]+)(?:/(?P<rest>.*))?", path)
        if match:
            index = config.repositories.get(match["repo"])
            if index is None:
                raise ApiError(404, "ResourceNotFoundException", f"Repository not found: {match['repo']}")
            rest = match["rest"] or ""
            if rest == "" and self.command == "POST":
                target = f"/{index}/"
            elif rest.startswith("simple/") and rest.strip("/") != "simple":  # no root listing, as on CodeArtifact
                target = f"/{index}/+simple/" + rest[len("simple/") :]
            elif rest.startswith("+f/") and self.command in ("GET", "HEAD"):
                target = f"/{index}/{rest}"  # the index's own files, linked relative to its simple pages
                self._check_downloadable(match["repo"], rest.rsplit("/", 1)[-1])
            else:
                raise ApiError(404, "ResourceNotFoundException", f"no such resource: {path}")
        elif self.command not in ("GET", "HEAD"):
            raise ApiError(405, "MethodNotAllowedException", f"{self.command} is not allowed on files")
        elif config.upstream_delay and path.startswith(f"/{UPSTREAM_INDEX}/+f/") and path not in self.server.fetched:
            self.server.fetched.add(path)  # listed already, still being imported: the first fetch is a 404
            raise ApiError(404, "ResourceNotFoundException", f"Asset not found (being imported from upstream): {path}")
        self._forward(target, repo=match["repo"] if match else None)

    def _check_token(self) -> None:
        """HTTP basic auth as CodeArtifact wants it: user ``aws``, password = a token that has not expired."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        user, password = "", ""
        if scheme.lower() == "basic":
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        elif scheme.lower() == "bearer":
            user, password = "aws", value.strip()
        verdict = self.server.tokens.check(password) if user == "aws" else "invalid"
        if verdict == "expired":
            raise ApiError(401, "UnauthorizedException", "Unauthorized: the CodeArtifact token has expired")
        if verdict != "ok":
            raise ApiError(401, "UnauthorizedException", "Unauthorized: a CodeArtifact token is required (user aws)")

    def _forward(self, target: str, repo: str | None) -> None:
        """Stream the request to devpi and its answer back; bodies are never held whole in memory."""
        config = self.server.config
        assert config.devpi_url is not None
        backend_url = urllib.parse.urlsplit(config.devpi_url)
        query = urllib.parse.urlsplit(self.path).query
        conn = http.client.HTTPConnection(backend_url.netloc, timeout=300)
        try:
            quoted = urllib.parse.quote(target, safe="/+@:~!$&'()*,;=")
            first = self._read(CHUNK)
            if self.command == "POST" and repo is not None:
                self._check_origin(repo, first)
            conn.putrequest(self.command, quoted + (f"?{query}" if query else ""), skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP and name.lower() not in ("host", "authorization"):
                    conn.putheader(name, value)
            if self.command not in ("GET", "HEAD"):
                # Reads go without a devpi login: the stand-in has checked the token and devpi's indexes are
                # world-readable behind it. devpi checks a login's password hash on every file request,
                # 0.15-0.2 s each, one at a time, which made each download 40 times slower than the index.
                backend_auth = base64.b64encode(f"{devpi.USER}:{self.server.backend.password()}".encode()).decode()
                conn.putheader("Authorization", f"Basic {backend_auth}")
            conn.endheaders()
            conn.send(first)
            while chunk := self._read(CHUNK):
                conn.send(chunk)
            resp = conn.getresponse()
            status, reason = resp.status, resp.reason
            if self.command == "POST" and status == 409:
                resp.read()
                raise ApiError(409, "ConflictException", f"{reason}: a file of that name exists with different content")
            hidden = self._not_listed(repo, target) if status == 200 and self.command == "GET" else []
            self.send_response(status, reason)
            for name, value in resp.getheaders():
                lname = name.lower()
                if lname in _HOP_BY_HOP or lname.startswith("x-devpi") or lname in ("server", "date"):
                    continue
                if hidden and lname == "content-length":
                    continue
                if lname == "location":
                    value = self._rewrite_location(value, repo)
                self.send_header(name, value)
            self.end_headers()
            if hidden:  # a project page (small): without the versions package managers must not see
                self.wfile.write(filter_page(resp.read(), resp.getheader("Content-Type") or "", hidden))
                return
            while chunk := resp.read(CHUNK):
                self.wfile.write(chunk)
        finally:
            conn.close()

    def _not_listed(self, repo: str | None, target: str) -> list[str]:
        """The versions a project page of ``repo`` must leave out (see ``Versions.not_listed``)."""
        match = re.fullmatch(r"/[^/]+/[^/]+/\+simple/([^/]+)/?", target)
        if repo is None or match is None:
            return []
        return list(self.server.versions.not_listed(repo, str(canonicalize_name(match[1]))))

    def _check_downloadable(self, repo: str, filename: str) -> None:
        """Archived, Disposed and Deleted versions' files cannot be downloaded (Unlisted ones can)."""
        found = parse_dist(urllib.parse.unquote(filename))
        if found is None:
            return
        statuses = self.server.versions.not_listed(repo, found[0])
        if any(_same(v, found[1]) and st != "Unlisted" for v, st in statuses.items()):
            raise ApiError(
                404, "ResourceNotFoundException", f"Asset not found: {filename} (its version is not available)"
            )

    def _check_origin(self, repo: str, head: bytes) -> None:
        """Package origin controls: a version public PyPI offers through the upstream cannot be published.
        twine sends the form fields ``name`` and ``version`` before the file, so the first chunk has them."""
        fields = dict(re.findall(rb'name="(name|version)"\r\n\r\n([^\r]*)\r\n', head))
        name, version = (fields.get(k, b"").decode(errors="replace") for k in (b"name", b"version"))
        package = str(canonicalize_name(name)) if name else ""
        if package and self.server.versions.on_upstream(package, version):
            raise ApiError(
                409,
                "ConflictException",
                f"Package version {package} {version} is available from an upstream repository (public PyPI) "
                f"of '{repo}'; its package origin controls block publishing it (publish=BLOCK)",
            )
        if package and self.group_publish(package) == "BLOCK":
            raise ApiError(
                403,
                "AccessDeniedException",
                f"Package {package} in '{repo}': its package origin controls block publishing (publish=BLOCK)",
            )

    def _rewrite_location(self, location: str, repo: str | None) -> str:
        """devpi redirects to its own absolute URLs; clients must stay on the endpoint."""
        config = self.server.config
        assert config.devpi_url is not None
        devpi_base = config.devpi_url.rstrip("/")
        if location.startswith(devpi_base):
            location = location[len(devpi_base) :]
        if repo is not None:
            index = config.repositories[repo]
            location = location.replace(f"/{index}/+simple/", f"/pypi/{repo}/simple/", 1)
        return location if location.startswith("http") else config.public_url.rstrip("/") + location


def _same(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False
