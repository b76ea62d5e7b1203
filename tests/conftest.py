"""Shared fixtures: the local stand-ins, started lazily once per session and stopped by PID at the end.

``sandbox_env``  devpi + CodeArtifact stand-in + moto + registry on free ports; the variables as a dict.
``docker_env``   the same sandbox upgraded with a Docker engine and the local base image. Skips when no
                 engine is available, unless ``CA_REQUIRE_DOCKER=1`` (CI), where it fails instead.
``sandbox_environ`` / ``docker_environ``  those variables applied to ``os.environ`` for one test (for
                 in-process CLI calls), with every other ``CA_*``/``AWS_*`` variable removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from tests.fakes.fake_jenkins import FakeJenkins
from tests.helpers import sandbox_client

from jenkins_codeartifact import sandbox
from jenkins_codeartifact.errors import CAError
from jenkins_codeartifact.sandbox.dockerd import DockerUnavailable

# Variables from the developer's shell that would point a test at something other than the sandbox.
_FOREIGN_PREFIXES = ("CA_", "AWS_", "DOCKER_")


def apply_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """Make ``env`` the only CA_/AWS_/DOCKER_ settings in ``os.environ`` until the test ends."""
    for var in [v for v in os.environ if v.startswith(_FOREIGN_PREFIXES)]:
        monkeypatch.delenv(var)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's sandbox directory; whatever was started in it is stopped (by PID) at the end."""
    directory = tmp_path_factory.mktemp("sandbox")
    try:
        yield directory
    finally:
        sandbox.down(directory)


@pytest.fixture(scope="session")
def sandbox_env(sandbox_dir: Path) -> dict[str, str]:
    try:
        return sandbox.up(sandbox_dir, ports=sandbox.free_ports())
    except CAError as exc:
        pytest.fail(f"sandbox did not start: {exc.message} ({exc.hint or ''})", pytrace=False)


@pytest.fixture(scope="session")
def docker_env(sandbox_dir: Path, sandbox_env: dict[str, str]) -> dict[str, str]:
    try:
        return sandbox.up(sandbox_dir, docker=True)
    except DockerUnavailable as exc:
        reason = f"no Docker engine: {exc.message}"
        if os.environ.get("CA_REQUIRE_DOCKER") == "1":
            pytest.fail(f"CA_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    except CAError as exc:
        pytest.fail(f"Docker sandbox did not start: {exc.message} ({exc.hint or ''})", pytrace=False)


@pytest.fixture
def sandbox_environ(sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    apply_env(monkeypatch, sandbox_env)
    return sandbox_env


@pytest.fixture
def docker_environ(docker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    apply_env(monkeypatch, docker_env)
    return docker_env


@pytest.fixture(scope="session")
def token(sandbox_env: dict[str, str]) -> str:
    """A CodeArtifact token from the stand-in (what the tests scan output, argv and files for)."""
    client = sandbox_client(sandbox_env, "codeartifact")
    resp = client.get_authorization_token(domain=sandbox_env["CA_DOMAIN"], domainOwner=sandbox_env["CA_DOMAIN_OWNER"])
    return str(resp["authorizationToken"])


@pytest.fixture(scope="session")
def devpi_password(sandbox_dir: Path, sandbox_env: dict[str, str]) -> str:
    """The password of devpi's ``aws`` user, for tests that talk to devpi directly (not a CodeArtifact token)."""
    from jenkins_codeartifact.sandbox.codeartifact_api import load_secrets

    return load_secrets(sandbox_dir / "secrets.json")["aws_password"]


@pytest.fixture(scope="session")
def endpoint(sandbox_env: dict[str, str]) -> str:
    """The stand-in repository's pypi endpoint (twine's upload URL; simple/ below it is pip's index)."""
    client = sandbox_client(sandbox_env, "codeartifact")
    where = {k: sandbox_env[v] for k, v in (("domain", "CA_DOMAIN"), ("domainOwner", "CA_DOMAIN_OWNER"))}
    resp = client.get_repository_endpoint(**where, repository=sandbox_env["CA_REPOSITORY"], format="pypi")
    return str(resp["repositoryEndpoint"])


@pytest.fixture
def fake() -> Iterator[FakeJenkins]:
    """A fresh fake Jenkins on a loopback port, stopped after the test."""
    with FakeJenkins() as j:
        yield j
