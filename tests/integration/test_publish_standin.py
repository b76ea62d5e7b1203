"""ca-publish against an in-process CodeArtifact stand-in in front of the session's devpi.

The stand-in runs in this process so a test can move its clock, archive a version, or say what public
PyPI offers through the upstream. Sources: CodeArtifact user guide, "Packages overview" (overwriting
package assets: identical content succeeds, different content is HTTP 409), "Package version status",
"Editing package origin controls" (versions from the upstream block publishing), "CodeArtifact
authentication and tokens" (tokens expire); botocore's codeartifact model (UpdatePackageVersionsStatus).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator

import boto3
import pytest
from tests.helpers import fresh_package

from jenkins_codeartifact import config as settings_module
from jenkins_codeartifact import index as index_module
from jenkins_codeartifact.cli import publish
from jenkins_codeartifact.dists import Dist
from jenkins_codeartifact.index import Index
from jenkins_codeartifact.publish import build as package
from jenkins_codeartifact.publish import flow
from jenkins_codeartifact.sandbox import codeartifact_api as ca


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def project(tmp_path):
    return fresh_package(tmp_path, 2)


@pytest.fixture
def standin(sandbox_environ, devpi_password, monkeypatch, tmp_path) -> Iterator[ca.StandIn]:
    """A stand-in with its own clock, signed by the sandbox's key, storing into the sandbox's devpi."""
    monkeypatch.chdir(tmp_path)
    clock = Clock()
    config = ca.Config(
        access_key_id=sandbox_environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=sandbox_environ["AWS_SECRET_ACCESS_KEY"],
        devpi_url=sandbox_environ["CA_SANDBOX_DEVPI_URL"],
        clock=clock,
    )
    server = ca.make_server(config, ca.DevpiBackend(sandbox_environ["CA_SANDBOX_DEVPI_URL"], devpi_password))
    config.public_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", config.public_url)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run(capsys, *argv):
    code = publish.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR")]


def test_a_run_that_outlives_its_token_uploads_with_a_fresh_one(standin, project, monkeypatch, capsys):
    """The token is fetched before the build; the build takes 'two hours' (the clock jumps), so the first
    token (CA_TOKEN_DURATION 900 s) has expired at the endpoint by the time twine uploads."""
    clock = standin.config.clock
    monkeypatch.setattr(flow, "resolve_index", lambda s: index_module.resolve_index(s, clock=clock))
    real_build = package.build_dists
    tokens: list[str] = []

    def long_build(*args):
        dists = real_build(*args)
        clock.offset += 2 * 3600  # type: ignore[attr-defined]
        return dists

    real_token = index_module.CodeArtifact.token

    def recording_token(self):
        tokens.append(real_token(self))
        return tokens[-1]

    monkeypatch.setattr(package, "build_dists", long_build)
    monkeypatch.setattr(index_module.CodeArtifact, "token", recording_token)
    monkeypatch.setenv("CA_TOKEN_DURATION", "900")
    code, output = run(capsys, project.path)
    assert code == 0, output
    assert f"published fantastic-ascii {project.version}" in output
    assert len(set(tokens)) == 2, "the upload must have used a second token"
    assert standin.tokens.check(tokens[0]) == "expired"


def test_identical_reupload_succeeds_different_bytes_exit_3(standin, project, monkeypatch, capsys, tmp_path):
    """A version the pre-check does not see (published meanwhile by another run): re-sending the same bytes
    is harmless and reported as uploaded; different bytes are refused with the server's reason, exit 3."""
    assert run(capsys, project.path)[0] == 0
    saved = tmp_path / "first"
    shutil.copytree(project.path / "dist", saved)
    monkeypatch.setattr(Index, "version_files", lambda self, name, version: None)
    real_build = package.build_dists

    def same_bytes(*args):
        dists = real_build(*args)
        for dist in dists:
            shutil.copyfile(saved / dist.path.name, dist.path)
        return [Dist.of(d.path) for d in dists]

    monkeypatch.setattr(package, "build_dists", same_bytes)
    code, output = run(capsys, project.path)
    assert code == 0, output
    assert f"published fantastic-ascii {project.version}" in output

    monkeypatch.setattr(package, "build_dists", real_build)
    code, output = run(capsys, project.path)  # an unchanged source rebuilt: other archive bytes, same contents
    assert code == 0, output
    assert "holds the same contents" in output

    (project.path / "README.md").write_text("changed after the release\n")  # other contents
    code, output = run(capsys, project.path)
    rebuilt = {p.name: Dist.of(p).sha256 for p in (project.path / "dist").iterdir()}
    assert rebuilt != {p.name: Dist.of(p).sha256 for p in saved.iterdir()}, "the rebuild must differ"
    assert code == 3, output
    (line,) = errors(output)  # the 409 made ca-publish compare sha256 with what the index holds
    assert f"fantastic_ascii-{project.version}" in line and "is already there with other bytes" in line


def test_skip_existing_refuses_to_top_up_an_archived_version(standin, project, sandbox_environ, capsys):
    assert run(capsys, project.path)[0] == 0
    client = boto3.Session().client("codeartifact")
    where = {"domain": "my-domain", "domainOwner": "111122223333", "repository": "my-repository", "format": "pypi"}
    done = client.update_package_versions_status(
        **where, package="fantastic-ascii", versions=[project.version], targetStatus="Archived"
    )
    assert done["successfulVersions"][project.version]["status"] == "Archived"
    code, output = run(capsys, project.path, "--skip-existing")
    assert code == 3, output
    assert errors(output) == [
        f"ERROR: fantastic-ascii {project.version} is Archived in CodeArtifact my-domain/my-repository: "
        "it cannot take files any more, so it can be neither published again nor topped up"
    ]
    assert "nothing uploaded" not in output


def test_a_version_public_pypi_offers_is_refused_with_the_servers_reason(standin, project, capsys, monkeypatch):
    """Public PyPI gains the name between the origin check and the upload: the 409 still says why."""
    from jenkins_codeartifact.repo import origin

    real_check = origin.check

    def check_then_upstream_gains_it(ca, name):
        found = real_check(ca, name)
        standin.versions.upstream["fantastic-ascii"] = {project.version}
        return found

    monkeypatch.setattr(origin, "check", check_then_upstream_gains_it)
    code, output = run(capsys, project.path)
    assert code == 3, output
    (line,) = errors(output)
    assert "refused (HTTP 409)" in line
    assert "available from an upstream repository (public PyPI)" in line
    assert "already published" not in line


def test_dualstack_endpoint_is_used_when_asked(standin, project, capsys, monkeypatch):
    monkeypatch.setenv("CA_ENDPOINT_TYPE", "dualstack")
    settings = settings_module.load({}, env=dict(os.environ), cwd=project.path)
    index = index_module.resolve_index(settings)
    assert index.upload_url.startswith("http://localhost:")


def test_a_wrong_aws_secret_key_points_at_the_credentials(standin, project, capsys, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + uuid.uuid4().hex)
    code, output = run(capsys, project.path)
    assert code == 2, output
    (line,) = errors(output)
    assert "InvalidSignatureException" in line
    assert "TIP: check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE)" in output
    assert "check domain" not in output and not (project.path / "dist").exists()


def test_a_name_public_pypi_serves_is_refused_before_anything_is_written(standin, project, capsys):
    """The origin check (DescribePackage: publish=BLOCK once the upstream served the name) runs with the
    version check: exit 3 before dist/ is written or anything is uploaded."""
    standin.versions.upstream["fantastic-ascii"] = {"0.0.1"}
    code, output = run(capsys, project.path)
    assert code == 3, output
    assert errors(output) == [
        "ERROR: publishing fantastic-ascii to my-repository will be refused: its package origin controls "
        "block publishing (publish=BLOCK; set when versions came from an upstream)"
    ]
    assert not (project.path / "dist").exists() and "published" not in output


def renamed(path, prefix: str) -> str:
    """Give the project a name no other test published (a new package: only its group decides)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    pyproject = path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('name = "fantastic-ascii"', f'name = "{name}"'))
    return name


def test_a_group_that_blocks_publishing_is_exit_3(standin, project, capsys):
    name = renamed(project.path, "blocked")
    standin.config.package_groups.append(ca.PackageGroup("/pypi//blocked~", {"PUBLISH": "BLOCK"}))
    code, output = run(capsys, project.path)
    assert code == 3, output
    assert errors(output) == [
        f"ERROR: publishing {name} will be refused: its package group /pypi//blocked~ blocks publishing"
    ]
    assert not (project.path / "dist").exists()


def test_shadowing_is_one_warning_and_an_internal_group_none(standin, project, capsys, tmp_path):
    """The root group lets the upstream serve any name: one WARNING; the organisation's group (upstream
    BLOCK, as infra/codeartifact.yml creates it) silences it. Either way the version is published."""
    name = renamed(project.path, "open")
    code, output = run(capsys, project.path)
    assert code == 0, output
    (warning,) = [line for line in output.splitlines() if "shadowed" in line]
    assert warning.startswith(f"WARNING: {name} could be shadowed from the public upstream: its package group /*")
    other = fresh_package(tmp_path / "second", 2)
    internal = renamed(other.path, "internal")
    standin.config.package_groups.append(ca.PackageGroup(f"/pypi//{internal}$", dict(ca.INTERNAL_GROUP)))
    code, output = run(capsys, other.path)
    assert code == 0, output
    assert "shadowed" not in output and f"published {internal}" in output


def test_the_report_carries_the_revision_promote_pins(standin, project, capsys, tmp_path):
    report = tmp_path / "report.json"
    code, output = run(capsys, project.path, "--report", report)
    assert code == 0, output
    data = json.loads(report.read_text())
    client = boto3.Session().client("codeartifact")
    described = client.describe_package_version(
        domain="my-domain",
        repository="my-repository",
        format="pypi",
        package="fantastic-ascii",
        packageVersion=project.version,
    )["packageVersion"]
    assert data["revision"] == described["revision"] and data["revision"]
    again = tmp_path / "again.json"
    code, output = run(capsys, project.path, "--skip-existing", "--report", again)  # nothing uploaded: same revision
    assert code == 0, output
    assert json.loads(again.read_text())["revision"] == data["revision"]
