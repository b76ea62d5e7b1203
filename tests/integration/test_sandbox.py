"""The sandbox for real: services up, boto3 against the stand-in, twine and pip against its endpoint."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import docker
import pytest
import requests

from jenkins_codeartifact import sandbox
from jenkins_codeartifact.sandbox import dockerd, process
from jenkins_codeartifact.sandbox.process import Service

BIN = Path(sys.executable).parent


def make_dists(directory: Path, name: str, version: str) -> list[Path]:
    """A minimal wheel and sdist, written by hand: no build backend, no network."""
    dist = name.replace("-", "_")
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: sandbox test\n"
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(text.encode())}")
        zf.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    sdist = directory / f"{dist}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for path, text in {"PKG-INFO": metadata, f"{dist}/__init__.py": files[f"{dist}/__init__.py"]}.items():
            data = text.encode()
            member = tarfile.TarInfo(f"{dist}-{version}/{path}")
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
    return [wheel, sdist]


def twine(env: dict[str, str], token: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "twine"), "upload", "--disable-progress-bar", "--non-interactive", *map(str, files)],
        env={
            **os.environ,
            "NO_COLOR": "1",
            "TWINE_REPOSITORY_URL": endpoint(env),
            "TWINE_USERNAME": "aws",
            "TWINE_PASSWORD": token,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def pip_download(env: dict[str, str], index_url: str, requirement: str, dest: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    argv = [sys.executable, "-m", "pip", "download", "--no-input", "--no-deps", "-d", str(dest)]
    return subprocess.run(
        [*argv, "--index-url", index_url, requirement],
        env={**clean, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_RETRIES": "0"},
        capture_output=True,
        text=True,
        check=False,
    )


def ca(env: dict[str, str]) -> Any:
    return boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    ).client("codeartifact", endpoint_url=env["AWS_ENDPOINT_URL_CODEARTIFACT"])


def where(env: dict[str, str]) -> dict[str, str]:
    return {"domain": env["CA_DOMAIN"], "domainOwner": env["CA_DOMAIN_OWNER"]}


def repo(env: dict[str, str]) -> dict[str, str]:
    return {**where(env), "repository": env["CA_REPOSITORY"], "format": "pypi"}


def endpoint(env: dict[str, str]) -> str:
    return str(ca(env).get_repository_endpoint(**repo(env))["repositoryEndpoint"])


@pytest.fixture(scope="module")
def published(sandbox_env: dict[str, str], token: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project version uploaded with twine through the stand-in's endpoint."""
    name, version = "sbx-" + uuid.uuid4().hex[:8], "1.0.0"
    files = make_dists(tmp_path_factory.mktemp("dists"), name, version)
    client, package = ca(sandbox_env), {**repo(sandbox_env), "package": name, "packageVersion": version}
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client.describe_package_version(**package)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    result = twine(sandbox_env, token, *files)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"name": name, "version": version, "files": files, "package": package}


def test_env_sh_pidfiles_and_secrets(sandbox_env: dict[str, str], sandbox_dir: Path, token: str) -> None:
    text = (sandbox_dir / "env.sh").read_text()
    written = sandbox.read_env(sandbox_dir)
    # an earlier test may have upgraded the session's sandbox with Docker: that only adds its variables
    assert {
        k: v for k, v in written.items() if k not in ("DOCKER_HOST", "CA_BASE_IMAGE", "CA_DOCKER_CLI")
    } == sandbox_env
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL_CODEARTIFACT",
        "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
        "CA_REGISTRY",
        "CA_SANDBOX_INDEX_URL",
    ):
        assert f"export {name}=" in text
    assert sandbox_env["AWS_REGION"] == "us-east-1"
    assert (sandbox_env["CA_DOMAIN"], sandbox_env["CA_DOMAIN_OWNER"]) == ("my-domain", "111122223333")
    assert token not in text  # the devpi password is a secret: not in env.sh
    assert (sandbox_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert (sandbox_dir / "env.sh").stat().st_mode & 0o777 == 0o600
    assert set(sandbox.running(sandbox_dir)) >= {"devpi", "codeartifact", "moto", "registry"}


def test_up_again_reuses_the_running_services(sandbox_env: dict[str, str], sandbox_dir: Path) -> None:
    before = sandbox.running(sandbox_dir)
    again = sandbox.up(sandbox_dir)
    assert sandbox.running(sandbox_dir) == before
    assert {k: v for k, v in again.items() if k in sandbox_env} == sandbox_env


def test_describe_and_list_assets_after_upload(sandbox_env: dict[str, str], published: dict[str, Any]) -> None:
    client = ca(sandbox_env)
    described = client.describe_package_version(**published["package"])["packageVersion"]
    assert (described["packageName"], described["version"], described["status"]) == (
        published["name"],
        "1.0.0",
        "Published",
    )
    assets = client.list_package_version_assets(**published["package"])["assets"]
    expected = {f.name: (f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest()) for f in published["files"]}
    assert {a["name"]: (a["size"], a["hashes"]["SHA-256"]) for a in assets} == expected
    assert set(assets[0]["hashes"]) == {"MD5", "SHA-1", "SHA-256", "SHA-512"}


def test_versions_inherited_from_the_pypi_mirror_are_not_in_the_repository(sandbox_env: dict[str, str]) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        ca(sandbox_env).describe_package_version(**repo(sandbox_env), package="six", packageVersion="1.17.0")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_reupload_of_identical_bytes_succeeds_different_bytes_conflict(
    sandbox_env: dict[str, str], token: str, published: dict[str, Any], tmp_path: Path
) -> None:
    # CodeArtifact user guide, "Overwriting package assets": republishing identical content succeeds
    # (idempotent); the same asset name with different content is an HTTP 409 conflict.
    same = twine(sandbox_env, token, published["files"][0])
    assert same.returncode == 0, same.stdout + same.stderr
    changed = make_dists(tmp_path, published["name"], published["version"])[1]
    changed.write_bytes(changed.read_bytes() + b"\0")
    different = twine(sandbox_env, token, changed)
    assert different.returncode != 0 and "409 Conflict" in different.stdout + different.stderr


def test_upload_with_a_wrong_token_is_refused(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    result = twine(sandbox_env, "not-the-token", *make_dists(tmp_path, "sbx-refused", "1.0"))
    assert result.returncode != 0 and "401" in result.stdout + result.stderr


def test_pip_reads_the_simple_index_with_the_token_only(
    sandbox_env: dict[str, str], token: str, published: dict[str, Any], tmp_path: Path
) -> None:
    simple = endpoint(sandbox_env) + "simple/"
    with_token = simple.replace("http://", f"http://aws:{token}@", 1)
    requirement = f"{published['name']}=={published['version']}"
    ok = pip_download(sandbox_env, with_token, requirement, tmp_path / "ok")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {p.name for p in (tmp_path / "ok").iterdir()} & {f.name for f in published["files"]}
    refused = pip_download(sandbox_env, simple, requirement, tmp_path / "refused")
    assert refused.returncode != 0
    assert requests.get(simple + published["name"] + "/", timeout=10).status_code == 401


def test_simple_index_serves_pep_691_json(sandbox_env: dict[str, str], token: str, published: dict[str, Any]) -> None:
    resp = requests.get(
        endpoint(sandbox_env) + f"simple/{published['name']}/",
        auth=("aws", token),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=10,
    )
    assert resp.ok and resp.headers["Content-Type"].startswith("application/vnd.pypi.simple.v1+json")
    assert {f["filename"] for f in resp.json()["files"]} == {f.name for f in published["files"]}


def test_moto_and_registry_answer(sandbox_environ: dict[str, str]) -> None:
    assert boto3.Session().client("sts").get_caller_identity()["Account"]
    ecr = boto3.Session().client("ecr")
    ecr.create_repository(repositoryName="sbx-" + uuid.uuid4().hex[:8])
    assert ecr.describe_repositories()["repositories"]
    assert requests.get(f"http://{sandbox_environ['CA_REGISTRY']}/v2/", timeout=10).status_code == 200


def test_lifecycle_restart_of_a_dead_service_and_down(tmp_path: Path) -> None:
    """A separate sandbox: up, one service dies, up replaces only it, down stops everything by PID."""
    directory = tmp_path / "own"
    second: dict[str, int] = {}
    try:
        env = sandbox.up(directory, ports=sandbox.free_ports())
        first = sandbox.running(directory)
        assert set(first) == {"devpi", "codeartifact", "moto", "registry"}
        Service("moto", directory).stop()
        (directory / "moto.pid").write_text(f"{first['moto']} 1\n")  # a stale pidfile left by a crash
        assert sandbox.up(directory) == env
        second = sandbox.running(directory)
        assert second["moto"] != first["moto"]
        assert {k: v for k, v in second.items() if k != "moto"} == {k: v for k, v in first.items() if k != "moto"}
    finally:
        sandbox.down(directory)
    assert sandbox.running(directory) == {}
    assert not any(process.alive(pid) for pid in second.values())
    assert not list(directory.glob("*.pid"))
    assert not (directory / "env.sh").exists()
    for url in (env["CA_SANDBOX_DEVPI_URL"], env["AWS_ENDPOINT_URL_CODEARTIFACT"], env["AWS_ENDPOINT_URL"]):
        assert process.port_free(int(url.rsplit(":", 1)[1]))


@pytest.mark.docker
def test_docker_engine_and_base_image(docker_env: dict[str, str], sandbox_dir: Path) -> None:
    import docker

    if not docker_env["DOCKER_HOST"].startswith(f"unix://{sandbox_dir}"):  # an engine that was already running
        assert "dockerd" not in sandbox.running(sandbox_dir)  # so down will leave it alone

    client = docker.DockerClient(base_url=docker_env["DOCKER_HOST"])
    try:
        output = client.containers.run(
            docker_env["CA_BASE_IMAGE"], ["python3", "-c", "import venv, ssl; print('ok')"], remove=True
        )
    finally:
        client.close()
    assert output.strip() == b"ok"
    if Path("/usr/bin/docker").exists():
        assert docker_env["CA_DOCKER_CLI"] == "/usr/bin/docker"


@pytest.mark.docker
def test_private_dockerd_is_started_and_stopped_by_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        reason = "a private dockerd needs root and the dockerd binary"
        if os.environ.get("CA_REQUIRE_DOCKER") == "1":
            pytest.fail(f"CA_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    monkeypatch.setattr(dockerd, "existing_host", lambda: None)
    directory = tmp_path / "private"
    pid = None
    try:
        env = sandbox.up(directory, docker=True, ports=sandbox.free_ports())
        pid = sandbox.running(directory)["dockerd"]
        assert env["DOCKER_HOST"] == f"unix://{directory}/docker.sock"
        assert dockerd.ping(env["DOCKER_HOST"])
        client = docker.DockerClient(base_url=env["DOCKER_HOST"])
        try:  # overlay2 wherever an overlay mount works: vfs copies the whole image for every layer
            assert client.info()["Driver"] == dockerd.storage_driver(tmp_path)
            assert client.images.get(env["CA_BASE_IMAGE"])
        finally:
            client.close()
    finally:
        sandbox.down(directory)
    assert pid is not None and not process.alive(pid)
    mounts = Path("/proc/self/mounts").read_text()
    assert str(directory) not in mounts  # dockerd's netns and layers are unmounted: the dir can be removed
    shutil.rmtree(directory)


def test_up_with_free_ports_twice_reuses_the_live_services(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ca-sandbox up --free-ports`` again (the demo, a second shell) keeps the services and their ports."""
    from jenkins_codeartifact.cli import sandbox as cli

    directory = tmp_path / "again"
    try:
        assert cli.main(["up", "--dir", str(directory), "--free-ports"]) == 0
        first_out, first = capsys.readouterr().out, sandbox.running(directory)
        assert cli.main(["up", "--dir", str(directory), "--free-ports"]) == 0
        assert capsys.readouterr().out == first_out
        assert sandbox.running(directory) == first
    finally:
        assert cli.main(["down", "--dir", str(directory)]) == 0
    assert not any(process.alive(pid) for pid in first.values())


def test_the_pypi_mirror_does_not_fetch_the_whole_project_list(sandbox_env: dict[str, str]) -> None:
    """devpi's root/pypi with the full list took 14-60 s on its first request, longer than pip waits."""
    config = requests.get(
        f"{sandbox_env['CA_SANDBOX_DEVPI_URL']}/root/pypi", headers={"Accept": "application/json"}, timeout=30
    )
    assert config.json()["result"]["mirror_no_project_list"] is True
