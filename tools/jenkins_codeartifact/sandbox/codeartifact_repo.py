"""The stand-in's operations beyond the first upload: copying, listing and deleting versions, package groups.

Each follows botocore's codeartifact model (shapes, error codes, pagination) and the user guide:

* CopyPackageVersions ("Copy packages between repositories"): ``versions`` or ``versionRevisions``,
  never both, at most 100; per version a ``successfulVersions`` entry or a ``failedVersions`` one
  (``NOT_FOUND``, ``MISMATCHED_REVISION``, ``ALREADY_EXISTS`` unless ``allowOverwrite``).
* ListPackageVersions: ``sortBy=PUBLISHED_TIME`` (newest first), ``status`` filter, ``maxResults`` /
  ``nextToken`` pages; versions the upstream served are listed with ``originType`` EXTERNAL.
* DeletePackageVersions: the version is gone (``Deleted``), its files no longer listed.
* DescribePackage and GetAssociatedPackageGroup ("Package groups", "Package group definition syntax
  and matching behavior", "Editing package origin controls"): patterns ``/*``, ``/pypi/*``,
  ``/pypi//prefix~`` and ``/pypi//name$``; the most specific match wins, INHERIT takes the parent's mode.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.utils import (
    canonicalize_name,
)
from packaging.version import InvalidVersion, Version

from ..dists import parse_dist
from .codeartifact_model import ApiError, decode_page_token

if TYPE_CHECKING:
    from .codeartifact_api import StandIn

RESTRICTIONS = ("EXTERNAL_UPSTREAM", "INTERNAL_UPSTREAM", "PUBLISH")
MAX_COPY = 100  # CopyPackageVersions' versions list (botocore: max 100)
# infra/codeartifact.yml's InternalPackages group: the organisation's names are published, never fetched
INTERNAL_GROUP = {"PUBLISH": "ALLOW", "EXTERNAL_UPSTREAM": "BLOCK", "INTERNAL_UPSTREAM": "ALLOW"}
ROOT_CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()


@dataclass
class PackageGroup:
    """A package group: its pattern and origin restriction modes (ALLOW, BLOCK, INHERIT)."""

    pattern: str
    restrictions: dict[str, str] = field(default_factory=lambda: dict.fromkeys(RESTRICTIONS, "INHERIT"))
    description: str = ""

    def matches(self, package: str) -> int | None:
        """How specific the match of pypi ``package`` is (longer is more specific), or None."""
        path = f"/pypi//{package}"
        if self.pattern in ("/*", "/pypi/*"):
            return len(self.pattern)
        if self.pattern.endswith("$"):
            return len(self.pattern) + 1000 if path == self.pattern[:-1] else None
        if self.pattern.endswith("~"):
            return len(self.pattern) if path.startswith(self.pattern[:-1]) else None
        return None


def root_group() -> PackageGroup:
    """Every domain has ``/*``, allowing everything."""
    return PackageGroup("/*", dict.fromkeys(RESTRICTIONS, "ALLOW"), "the domain's root package group")


def _hidden(filename: str, hidden: set[Version]) -> bool:
    found = parse_dist(filename)
    return found is not None and found[1] in hidden


def filter_page(body: bytes, content_type: str, versions: list[str]) -> bytes:
    """A PEP 503 (HTML) or PEP 691 (JSON) project page without the files of ``versions``."""
    hidden = set()
    for v in versions:
        try:
            hidden.add(Version(v))
        except InvalidVersion:
            continue
    if "json" in content_type:
        page = json.loads(body)
        page["files"] = [f for f in page.get("files", []) if not _hidden(str(f.get("filename", "")), hidden)]
        if "versions" in page:
            page["versions"] = [v for v in page["versions"] if v not in versions]
        return json.dumps(page).encode()
    text = body.decode()
    return re.sub(
        r"(?:[\w.-]+/[\w.-]+ )?<a [^>]*>([^<]+)</a>(?:<br>)?\n?",  # devpi prefixes each link with its index
        lambda m: "" if _hidden(m.group(1), hidden) else m.group(0),
        text,
    ).encode()


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


class RepositoryOperations:
    """The handler's methods for these operations (mixed into ``codeartifact_api.Handler``)."""

    server: StandIn

    def _package_version(self, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        raise NotImplementedError  # the handler's

    def _find(self, params: dict[str, Any], repository: str, version: str) -> dict[str, Any] | None:
        try:
            return self._package_version({**params, "repository": repository, "packageVersion": version})[2]
        except ApiError:
            return None

    def _check_repository(self, repository: str) -> None:
        if repository not in self.server.config.repositories:
            raise ApiError(
                404,
                "ResourceNotFoundException",
                f"Repository not found. Repository name: '{repository}' in domain '{self.server.config.domain}'",
                resourceId=repository,
                resourceType="repository",
            )

    def _op_CopyPackageVersions(self, params: dict[str, Any]) -> dict[str, Any]:
        source, target = params["sourceRepository"], params["destinationRepository"]
        for repository in (source, target):
            self._check_repository(repository)
        versions, revisions = params.get("versions"), params.get("versionRevisions")
        if bool(versions) == bool(revisions):
            raise ApiError(400, "ValidationException", "Exactly one of versions or versionRevisions must be specified")
        wanted: dict[str, str | None] = dict(revisions) if revisions else dict.fromkeys(versions or [])
        if len(wanted) > MAX_COPY:
            raise ApiError(400, "ValidationException", f"at most {MAX_COPY} versions may be copied at once")
        ok: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for version, revision in wanted.items():
            found = self._find(params, source, version)
            if found is None:
                failed[version] = {"errorCode": "NOT_FOUND", "errorMessage": f"version {version} not found"}
            elif revision is not None and revision != found["revision"]:
                failed[version] = {
                    "errorCode": "MISMATCHED_REVISION",
                    "errorMessage": f"revision {revision} does not match the current revision {found['revision']}",
                }
            elif self._find(params, target, version) is not None and not params.get("allowOverwrite"):
                failed[version] = {"errorCode": "ALREADY_EXISTS", "errorMessage": f"version {version} already exists"}
            else:
                indexes = self.server.config.repositories
                self.server.backend.copy(indexes[source], indexes[target], params["package"], version)
                self.server.versions.set_status(target, params["package"], version, found["status"])
                self.server.versions.copied(source, target, params["package"], version)
                ok[version] = {"revision": found["revision"], "status": found["status"]}
        return {"successfulVersions": ok, "failedVersions": failed}

    def _op_ListPackageVersions(self, params: dict[str, Any]) -> dict[str, Any]:
        package, repository = params["package"], params["repository"]
        index = self.server.config.repositories[repository]
        own = [] if package != canonicalize_name(package) else self.server.backend.versions(index, package)
        rows: list[tuple[float, dict[str, Any]]] = []
        for item in own:
            status = self.server.versions.status(repository, package, item["version"])
            entered = self.server.versions.entry_point(repository, package, item["version"])
            origin = {"domainEntryPoint": {"repositoryName": entered}, "originType": "INTERNAL"}
            entry = {"version": item["version"], "revision": item["revision"], "status": status, "origin": origin}
            rows.append((float(item["publishedTime"]), entry))
        for version in sorted(self.server.versions.upstream.get(package, set())):
            origin = {"domainEntryPoint": {"externalConnectionName": "public:pypi"}, "originType": "EXTERNAL"}
            rows.append((0.0, {"version": version, "revision": "upstream", "status": "Published", "origin": origin}))
        if not rows:
            raise ApiError(
                404,
                "ResourceNotFoundException",
                f"Package not found. pypi package '{package}' in repository '{repository}'",
                resourceId=package,
                resourceType="package",
            )
        rows.sort(key=lambda r: r[0], reverse=params.get("sortBy") == "PUBLISHED_TIME")
        entries = [e for _, e in rows if e["status"] != "Deleted"]
        if params.get("status"):
            entries = [e for e in entries if e["status"] == params["status"]]
        if params.get("originType"):
            entries = [e for e in entries if e["origin"]["originType"] == params["originType"]]
        start, size = decode_page_token(params.get("nextToken")), params.get("maxResults", 100)
        result: dict[str, Any] = {"format": "pypi", "package": package, "versions": entries[start : start + size]}
        if entries:
            result["defaultDisplayVersion"] = entries[0]["version"]
        if start + size < len(entries):
            result["nextToken"] = _page_token(start + size)
        return result

    def _set_statuses(self, params: dict[str, Any], target: str) -> dict[str, Any]:
        """Move versions to ``target``; one that does not exist, or not in ``expectedStatus``, fails alone."""
        ok: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for version in params.get("versions") or []:
            try:
                _, _, found = self._package_version({**params, "packageVersion": version})
            except ApiError:
                failed[version] = {"errorCode": "NOT_FOUND", "errorMessage": f"version {version} not found"}
                continue
            expected = params.get("expectedStatus")
            if expected and found["status"] != expected:
                failed[version] = {"errorCode": "MISMATCHED_STATUS", "errorMessage": f"status is {found['status']}"}
                continue
            self.server.versions.set_status(params["repository"], params["package"], version, target)
            ok[version] = {"revision": found["revision"], "status": target}
        return {"successfulVersions": ok, "failedVersions": failed}

    def _op_UpdatePackageVersionsStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        target = params.get("targetStatus")
        if target not in ("Published", "Unlisted", "Archived"):
            raise ApiError(
                400,
                "ValidationException",
                f"targetStatus {target!r}: only Published, Unlisted or Archived (Disposed: DisposePackageVersions)",
                reason="FIELD_VALIDATION_FAILED",
            )
        return self._set_statuses(params, target)

    def _op_DisposePackageVersions(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._set_statuses(params, "Disposed")

    def _op_DescribeRepository(self, params: dict[str, Any]) -> dict[str, Any]:
        """Its upstreams (``Config.upstreams``); the sandbox's devpi indexes read PyPI through devpi's mirror."""
        config, name = self.server.config, params["repository"]
        return {
            "repository": {
                "name": name,
                "administratorAccount": config.owner,
                "domainName": config.domain,
                "domainOwner": config.owner,
                "arn": f"arn:aws:codeartifact:{config.region}:{config.owner}:repository/{config.domain}/{name}",
                "description": "",
                "upstreams": [{"repositoryName": u} for u in config.upstreams.get(name, [])],
                "externalConnections": [],
                "createdTime": ROOT_CREATED,
            }
        }

    def _op_DeletePackageVersions(self, params: dict[str, Any]) -> dict[str, Any]:
        ok: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for version in params.get("versions") or []:
            found = self._find(params, params["repository"], version)
            if found is None:
                failed[version] = {"errorCode": "NOT_FOUND", "errorMessage": f"version {version} not found"}
            elif params.get("expectedStatus") and found["status"] != params["expectedStatus"]:
                failed[version] = {"errorCode": "MISMATCHED_STATUS", "errorMessage": f"status is {found['status']}"}
            else:
                self.server.versions.set_status(params["repository"], params["package"], version, "Deleted")
                ok[version] = {"revision": found["revision"], "status": "Deleted"}
        return {"successfulVersions": ok, "failedVersions": failed}

    # -- package groups and origin controls ----------------------------------------------------------------

    def _group_of(self, package: str) -> tuple[PackageGroup, dict[str, Any]]:
        """The package's group (the most specific match) and its restrictions with effective modes."""
        groups = [root_group(), *self.server.config.package_groups]
        ranked = sorted(((g.matches(package), i, g) for i, g in enumerate(groups)), key=lambda r: (r[0] or -1, r[1]))
        matching = [g for score, _, g in ranked if score is not None]
        group = matching[-1]
        restrictions: dict[str, Any] = {}
        for kind in RESTRICTIONS:
            mode = group.restrictions.get(kind, "INHERIT")
            entry: dict[str, Any] = {"mode": mode, "effectiveMode": mode}
            if mode == "INHERIT":
                parent = next(g for g in reversed(matching[:-1]) if g.restrictions.get(kind, "INHERIT") != "INHERIT")
                entry["effectiveMode"] = parent.restrictions[kind]
                entry["inheritedFrom"] = {"arn": self._group_arn(parent), "pattern": parent.pattern}
            restrictions[kind] = entry
        return group, restrictions

    def _group_arn(self, group: PackageGroup) -> str:
        config = self.server.config
        return f"arn:aws:codeartifact:{config.region}:{config.owner}:package-group/{config.domain}{group.pattern}"

    def group_publish(self, package: str) -> str:
        """The PUBLISH mode the package's group gives it (ALLOW or BLOCK)."""
        return str(self._group_of(package)[1]["PUBLISH"]["effectiveMode"])

    def origin(self, repository: str, package: str) -> dict[str, str]:
        """The package's effective origin restrictions in ``repository`` (DescribePackage's shape)."""
        _, restrictions = self._group_of(package)
        publish = restrictions["PUBLISH"]["effectiveMode"]
        upstream = restrictions["EXTERNAL_UPSTREAM"]["effectiveMode"]
        # a name public PyPI serves through the upstream cannot also be published (unless the upstream is blocked)
        if upstream != "BLOCK" and self.server.versions.upstream.get(package):
            publish = "BLOCK"
        return {
            "publish": "BLOCK" if publish == "BLOCK" else "ALLOW",
            "upstream": "BLOCK" if upstream == "BLOCK" else "ALLOW",
        }

    def _op_DescribePackage(self, params: dict[str, Any]) -> dict[str, Any]:
        package, repository = params["package"], params["repository"]
        index = self.server.config.repositories[repository]
        own = package == canonicalize_name(package) and self.server.backend.versions(index, package)
        if not own and not self.server.versions.upstream.get(package):
            raise ApiError(
                404,
                "ResourceNotFoundException",
                f"Package not found. pypi package '{package}' in repository '{repository}'",
                resourceId=package,
                resourceType="package",
            )
        restrictions = self.origin(repository, package)
        return {"package": {"format": "pypi", "name": package, "originConfiguration": {"restrictions": restrictions}}}

    def _op_GetAssociatedPackageGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        group, restrictions = self._group_of(params["package"])
        config = self.server.config
        description: dict[str, Any] = {
            "arn": self._group_arn(group),
            "pattern": group.pattern,
            "domainName": config.domain,
            "domainOwner": config.owner,
            "createdTime": ROOT_CREATED,
            "description": group.description,
            "originConfiguration": {"restrictions": restrictions},
        }
        if group.pattern != "/*":
            description["parent"] = {"arn": self._group_arn(root_group()), "pattern": "/*"}
        return {"packageGroup": description, "associationType": "STRONG"}
