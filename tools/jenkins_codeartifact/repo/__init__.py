"""``ca-repo``: a CodeArtifact repository beyond the first upload (login lines, promotion, retention, origins)."""

from __future__ import annotations

from typing import Any

from ..codeartifact import CodeArtifact, validate
from ..errors import ConfigError
from ..settings import Settings


def facade(settings: Settings, repository: str | None = None, client: Any = None) -> CodeArtifact:
    """The CodeArtifact facade for ``settings`` (``repository`` instead of CA_REPOSITORY when given)."""
    repository = repository or settings.repository
    if not settings.domain or not repository:
        missing = " and ".join(n for n, v in (("--domain", settings.domain), ("--repository", repository)) if not v)
        raise ConfigError(f"missing {missing}", hint="set CA_DOMAIN and CA_REPOSITORY (ca-repo works on CodeArtifact)")
    validate(settings.domain, repository, settings.domain_owner, settings.endpoint_type, settings.token_duration)
    if client is None:
        from .. import aws

        client = aws.client(aws.session(settings), "codeartifact")
    return CodeArtifact(
        client=client,
        domain=settings.domain,
        repository=repository,
        domain_owner=settings.domain_owner,
        duration=settings.token_duration,
        endpoint_type=settings.endpoint_type,
    )
