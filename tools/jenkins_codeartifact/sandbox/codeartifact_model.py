"""The CodeArtifact stand-in's model of the service: botocore's API description, its parameter checks,
the rest-json error, and where packages really live (:class:`Backend`, devpi's in :class:`DevpiBackend`).

Parameters are validated against botocore's codeartifact model as the service does (lengths, patterns,
enums, ranges), with the service's "N validation errors detected" wording.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import http.client
import json
import re
import threading
import time
import urllib.parse
from typing import Any, Protocol

import botocore.session
from packaging.utils import canonicalize_name


class ApiError(Exception):
    """An AWS rest-json error response: status, ``x-amzn-ErrorType`` and a JSON body."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: str
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers = headers or {}


class Backend(Protocol):
    """Where packages really live; the devpi one is :class:`DevpiBackend`, tests may pass their own."""

    def password(self) -> str:
        """The backend's own credential (devpi's ``aws`` user); never handed to clients."""
        ...

    def version(self, index: str, package: str, version: str) -> dict[str, Any] | None:
        """Metadata of ``package==version`` uploaded to ``index`` (not inherited), or None."""
        ...

    def assets(self, index: str, package: str, version: str) -> list[dict[str, Any]]:
        """``[{"name", "size", "hashes": {...}}]`` of that version's files."""
        ...

    def versions(self, index: str, package: str) -> list[dict[str, Any]]:
        """``[{"version", "revision", "publishedTime"}]`` of the versions uploaded to ``index``."""
        ...

    def copy(self, source: str, target: str, package: str, version: str) -> None:
        """Copy every file of ``package==version`` from index ``source`` to index ``target``."""
        ...


class DevpiBackend:
    """Versions and files from devpi's JSON API; the token is the password of devpi's ``aws`` user."""

    def __init__(self, devpi_url: str, password: str) -> None:
        self.devpi_url = devpi_url.rstrip("/")
        self._password = password
        self._hashes: dict[str, tuple[int, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def password(self) -> str:
        return self._password

    def _get(self, path: str, accept: str = "application/json") -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(self.devpi_url + path)
        conn = http.client.HTTPConnection(parts.netloc, timeout=60)
        try:
            conn.request("GET", parts.path, headers={"Accept": accept})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _own_links(self, index: str, package: str, version: str) -> list[dict[str, Any]] | None:
        # Ask the index for its own projects first: looking up an unknown name makes devpi consult its PyPI
        # mirror (a request to PyPI), which CodeArtifact's DescribePackageVersion does not do either.
        status, body = self._get(f"/{index}")
        own = {canonicalize_name(p) for p in json.loads(body)["result"].get("projects", [])} if status == 200 else set()
        if canonicalize_name(package) not in own:
            return None
        status, body = self._get(f"/{index}/{urllib.parse.quote(package)}/{urllib.parse.quote(version)}")
        if status != 200:
            return None
        data = json.loads(body)["result"]
        # devpi also answers for versions inherited from its bases (the PyPI mirror): keep our own files.
        links = [
            link
            for link in data.get("+links", [])
            if link.get("rel") == "releasefile" and f"/{index}/+f/" in link.get("href", "")
        ]
        return [{**link, "_meta": data} for link in links] or None

    def version(self, index: str, package: str, version: str) -> dict[str, Any] | None:
        links = self._own_links(index, package, version)
        if not links:
            return None
        meta = links[0]["_meta"]
        whens = [entry["when"] for link in links for entry in link.get("log", []) if entry.get("when")]
        published = min((calendar.timegm((*w, 0, 0, 0)) for w in whens), default=int(time.time()))
        hashes = sorted(link.get("hash_spec", "") for link in links)
        return {
            "displayName": meta.get("name", package),
            "summary": meta.get("summary") or "",
            "homePage": meta.get("home_page") or "",
            "license": meta.get("license_expression") or meta.get("license") or "",
            "publishedTime": published,
            "revision": base64.b64encode(hashlib.sha256("\n".join(hashes).encode()).digest()[:24]).decode(),
        }

    def versions(self, index: str, package: str) -> list[dict[str, Any]]:
        status, body = self._get(f"/{index}")
        own = {canonicalize_name(p) for p in json.loads(body)["result"].get("projects", [])} if status == 200 else set()
        if canonicalize_name(package) not in own:
            return []
        status, body = self._get(f"/{index}/{urllib.parse.quote(package)}")
        if status != 200:
            return []
        out = []
        for version in json.loads(body)["result"]:
            found = self.version(index, package, version)
            if found is not None:
                out.append({"version": version, "revision": found["revision"], "publishedTime": found["publishedTime"]})
        return out

    def copy(self, source: str, target: str, package: str, version: str) -> None:
        """devpi's push between two indexes of the same server: the files are copied, not re-uploaded."""
        parts = urllib.parse.urlsplit(self.devpi_url + f"/{source}")
        body = json.dumps({"name": package, "version": version, "targetindex": target})
        auth = base64.b64encode(f"aws:{self._password}".encode()).decode()
        conn = http.client.HTTPConnection(parts.netloc, timeout=120)
        try:
            headers = {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Basic {auth}",
            }
            conn.request("POST", parts.path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read()[:300].decode(errors="replace")
        finally:
            conn.close()
        if resp.status != 200:
            raise ApiError(500, "InternalServerException", f"backend push answered {resp.status}: {text}")

    def assets(self, index: str, package: str, version: str) -> list[dict[str, Any]]:
        out = []
        for link in self._own_links(index, package, version) or []:
            href = link["href"]
            name = urllib.parse.unquote(href.rsplit("/", 1)[-1])
            size, hashes = self._file_hashes(href, link.get("hash_spec", href))
            out.append({"name": name, "size": size, "hashes": hashes})
        return sorted(out, key=lambda a: str(a["name"]))

    def _file_hashes(self, href: str, key: str) -> tuple[int, dict[str, str]]:
        """devpi keeps only SHA-256; CodeArtifact reports four hashes, so read the file once and cache."""
        with self._lock:
            if key in self._hashes:
                return self._hashes[key]
        path = urllib.parse.urlsplit(href).path
        status, body = self._get(path, accept="*/*")
        if status != 200:
            raise ApiError(500, "InternalServerException", f"backend answered {status} for {path}")
        result = (
            len(body),
            {
                "MD5": hashlib.md5(body, usedforsecurity=False).hexdigest(),
                "SHA-1": hashlib.sha1(body, usedforsecurity=False).hexdigest(),
                "SHA-256": hashlib.sha256(body).hexdigest(),
                "SHA-512": hashlib.sha512(body).hexdigest(),
            },
        )
        with self._lock:
            self._hashes[key] = result
        return result


_MODEL_LOCK = threading.Lock()
_MODEL: Any = None


def service_model() -> Any:
    """botocore's codeartifact model: the source of routes and parameter constraints."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = botocore.session.get_session().get_service_model("codeartifact")
        return _MODEL


def routes() -> dict[tuple[str, str], str]:
    model = service_model()
    routes: dict[tuple[str, str], str] = {}
    for name in model.operation_names:
        http_ = model.operation_model(name).http
        routes.setdefault((http_["method"], http_["requestUri"].split("?")[0]), name)
    return routes


def validate(operation: str, query: dict[str, str]) -> dict[str, Any]:
    """Query parameters of ``operation`` by member name, checked against the model like the service does."""
    shape = service_model().operation_model(operation).input_shape
    values: dict[str, Any] = {}
    problems: list[str] = []
    for member, mshape in shape.members.items():
        if mshape.serialization.get("location") != "querystring":
            continue
        raw = query.get(mshape.serialization.get("name", member))
        if raw is None:
            if member in shape.required_members:
                problems.append(f"Value null at '{member}' failed to satisfy constraint: Member must not be null")
            continue
        value, problem = _checked(member, mshape, raw)
        if problem:
            problems.append(f"Value '{value}' at '{member}' failed to satisfy constraint: {problem}")
        if value is not None:
            values[member] = value
    if problems:
        n = len(problems)
        raise ApiError(
            400,
            "ValidationException",
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems),
            reason="FIELD_VALIDATION_FAILED",
        )
    return values


def _checked(member: str, mshape: Any, raw: str) -> tuple[Any, str]:
    """The value of one query parameter and what is wrong with it ("" if nothing), in the service's words."""
    meta = mshape.metadata
    if mshape.type_name in ("integer", "long"):
        try:
            number = int(raw)
        except ValueError:
            return raw, "Member must be a number"
        if "min" in meta and number < meta["min"]:
            return number, f"Member must have value greater than or equal to {meta['min']}"
        if "max" in meta and number > meta["max"]:
            return number, f"Member must have value less than or equal to {meta['max']}"
        return number, ""
    if mshape.enum and raw not in mshape.enum:
        return raw, f"Member must satisfy enum value set: [{', '.join(mshape.enum)}]"
    if "min" in meta and len(raw) < meta["min"]:
        return raw, f"Member must have length greater than or equal to {meta['min']}"
    if "max" in meta and len(raw) > meta["max"]:
        return raw, f"Member must have length less than or equal to {meta['max']}"
    if "pattern" in meta and not re.fullmatch(meta["pattern"], raw):
        return raw, f"Member must satisfy regular expression pattern: {meta['pattern']}"
    return raw, ""


def decode_page_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiError(400, "ValidationException", "Invalid pagination token", reason="FIELD_VALIDATION_FAILED")
