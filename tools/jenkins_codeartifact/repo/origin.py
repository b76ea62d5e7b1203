"""Package origin controls, checked before a build: will publishing be refused, could the name be shadowed?

CodeArtifact decides per package from its origin configuration (DescribePackage
``originConfiguration.restrictions``: publish, upstream) and, for a package not yet in the repository,
from the package group the name falls in (GetAssociatedPackageGroup: the effective PUBLISH and
EXTERNAL_UPSTREAM modes). ca-publish learned of a refusal only from the upload's 409 after the build;
this says it first. A name whose upstream is allowed can be taken from public PyPI by anyone who
publishes it there (dependency substitution); infra/codeartifact.yml's package group blocks that.
Sources: CodeArtifact user guide, "Editing package origin controls", "Package groups".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..codeartifact import CodeArtifact
from ..dists import normalize
from ..errors import PreconditionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """The effective origin controls of one package name in one repository."""

    package: str
    repository: str
    group: str  # the package group's pattern
    group_publish: str  # effective modes: ALLOW, BLOCK, ALLOW_SPECIFIC_REPOSITORIES
    group_upstream: str
    publish: str | None = None  # the package's own (DescribePackage), None if it is not in the repository
    upstream: str | None = None

    def refusal(self) -> str | None:
        """Why publishing will be refused, or None."""
        if self.publish == "BLOCK":
            return (
                f"publishing {self.package} to {self.repository} will be refused: its package origin controls "
                "block publishing (publish=BLOCK; set when versions came from an upstream)"
            )
        if self.publish is None and self.group_publish == "BLOCK":
            return f"publishing {self.package} will be refused: its package group {self.group} blocks publishing"
        return None

    def shadowing(self) -> str | None:
        """Why a version of this name could come from the public upstream, or None."""
        upstream = self.upstream if self.upstream is not None else self.group_upstream
        if upstream == "BLOCK":
            return None
        where = f"its origin controls (upstream={upstream})" if self.upstream else f"its package group {self.group}"
        return (
            f"{self.package} could be shadowed from the public upstream: {where} let versions of this name "
            "come from public PyPI"
        )


def origin(ca: CodeArtifact, name: str) -> Origin:
    """Read the package's group and, when it exists, its own origin configuration."""
    grouped = ca.call("GetAssociatedPackageGroup", package=name)
    assert grouped is not None
    group = grouped["packageGroup"]
    restrictions = group.get("originConfiguration", {}).get("restrictions", {})

    def mode(kind: str) -> str:
        return str(restrictions.get(kind, {}).get("effectiveMode") or "ALLOW")

    described = ca.call("DescribePackage", repository=ca.repository, missing_ok=True, package=name)
    own = (described or {}).get("package", {}).get("originConfiguration", {}).get("restrictions", {})
    return Origin(
        package=normalize(name),
        repository=ca.repository,
        group=str(group.get("pattern", "/*")),
        group_publish=mode("PUBLISH"),
        group_upstream=mode("EXTERNAL_UPSTREAM"),
        publish=own.get("publish"),
        upstream=own.get("upstream"),
    )


def check(ca: CodeArtifact, name: str) -> Origin:
    """Raise (exit 3) when publishing ``name`` will be refused; log a WARNING when it could be shadowed.

    The one call ca-publish makes before its build: ``origin.check(index.codeartifact, name)``.
    """
    found = origin(ca, name)
    refusal = found.refusal()
    if refusal:
        raise PreconditionError(
            refusal,
            hint="a name public PyPI also has cannot be yours: rename the package, or (if it is yours) set its "
            "origin controls to publish=ALLOW,upstream=BLOCK (aws codeartifact put-package-origin-configuration)",
        )
    shadow = found.shadowing()
    if shadow:
        log.warning(
            "WARNING: %s; put the name in a package group that blocks the external upstream "
            "(infra/codeartifact.yml InternalPackagePattern)",
            shadow,
        )
    return found
