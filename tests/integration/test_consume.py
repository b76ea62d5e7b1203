"""ca-consume-deploy against the real stand-ins: Docker engine, registry v2, devpi behind the CodeArtifact
stand-in, and moto's CloudFormation/EC2/ECR.

Few tests on purpose (the vfs storage driver makes every layer slow): one end-to-end run that checks
everything a pipeline run must leave behind, including a scan for the token everywhere it could leak,
and one test per fault that needs a real engine. Stack states moto cannot produce are in
tests/unit/test_deploy.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import tarfile
import urllib.parse
import uuid
from pathlib import Path

import boto3
import botocore.exceptions
import docker
import pytest
import requests

from jenkins_codeartifact.cli import consume_deploy, publish
from jenkins_codeartifact.consume import containers, proxy
from jenkins_codeartifact.sandbox.codeartifact_state import TOKEN_PREFIX

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "application_src"
pytestmark = pytest.mark.docker


@pytest.fixture
def env(docker_environ, monkeypatch, tmp_path):
    """The sandbox (with Docker) in os.environ, run from a scratch directory."""
    monkeypatch.chdir(tmp_path)
    return docker_environ


@pytest.fixture
def published(env, capsys):
    """fantastic-ascii 1.0.0 (the app's pin) on the index; an earlier test may have published it already
    (then a rebuild from the unchanged source counts as published: same contents, other tar times)."""
    where = {k: env[v] for k, v in (("domain", "CA_DOMAIN"), ("domainOwner", "CA_DOMAIN_OWNER"))}
    with contextlib.suppress(botocore.exceptions.ClientError):
        boto3.Session().client("codeartifact").describe_package_version(
            **where, repository=env["CA_REPOSITORY"], format="pypi", package="fantastic-ascii", packageVersion="1.0.0"
        )
        return
    code = publish.main([str(ROOT / "package_src"), "--skip-existing", "--dist-dir", str(Path.cwd() / "dist")])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err


@pytest.fixture
def children(monkeypatch):
    """argv and environment of every child process this test starts (docker CLI, pip, ...)."""
    calls: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.Popen

    class Recording(real):  # type: ignore[misc,valid-type]
        def __init__(self, args, *a, **kw):
            argv = [args] if isinstance(args, (str, bytes)) else [str(x) for x in args]
            calls.append((argv, dict(kw.get("env") or {})))
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    return calls


@pytest.fixture
def names():
    """Per-test image, stack and repository names, so tests share the sandbox without colliding."""
    suffix = uuid.uuid4().hex[:8]
    return {"image": f"app-{suffix}", "stack": f"consumer-{suffix}", "tag": f"t{suffix}"}


@pytest.fixture
def cleanup(names, tmp_path):
    yield
    for state in (tmp_path / "state").glob("*.json"):  # a local target's proxy: a process, stopped by PID
        proxy.stop(state)
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": containers.LABEL}):
        if names["image"] in c.name or names["image"] in str(c.image.tags):
            c.remove(force=True)
    for img in client.images.list():
        for tag in img.tags:
            if names["image"] in tag:
                client.images.remove(tag, force=True)


def cli(capsys, *argv):
    code = consume_deploy.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def vpc_params():
    ec2 = boto3.Session().client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    a, b = subnets[0]["SubnetId"], subnets[1]["SubnetId"]
    return ["--param", f"VPC={vpc}", "--param", f"SubnetA={a}", "--param", f"SubnetB={b}"]


def registry_tags(env, name):
    resp = requests.get(f"http://{env['CA_REGISTRY']}/v2/{name}/tags/list", timeout=10)
    return set(resp.json().get("tags") or []) if resp.ok else set()


def leaks(blob: bytes | str, token: str) -> bool:
    data = blob.encode() if isinstance(blob, str) else blob
    # the command mints its own tokens: any CodeArtifact-shaped token counts, not only the session's one
    return any(form.encode() in data for form in {token, urllib.parse.quote(token, safe=""), TOKEN_PREFIX})


def test_end_to_end(env, token, published, children, names, cleanup, capsys, tmp_path):
    tag, name, stack = names["tag"], names["image"], names["stack"]
    port = containers.free_port()
    common = ["--context", APP, "--image-name", name, "--tag", tag, "--local-port", port]
    common += ["--local-state-dir", tmp_path / "state"]
    cfn = ["--stack", stack, "--template", APP / "application.yml", *vpc_params()]  # ContainerName: the image name

    # The pipeline: build, smoke-test, push, deploy (CloudFormation), then the local target.
    # moto's load balancer has no address: the probe is of the local target, below
    code, out, err = cli(capsys, "all", *common, *cfn, "--no-probe", "--report", tmp_path / "all.json")
    assert code == 0, err
    assert f"PUSHED={env['CA_REGISTRY']}/{name}:{tag}" in out
    assert "DEPLOYED=cloudformation:CREATE_COMPLETE" in out
    assert f"ROLLOUT={name}:COMPLETED" in out
    assert "smoke test passed" in err
    code, out2, err2 = cli(capsys, "deploy", *common, "--target", "local", "--report", tmp_path / "local.json")
    assert code == 0, err2
    assert f"URL=http://127.0.0.1:{port}/" in out2

    # What a run leaves behind: the tag in the registry, the stack on that tag, the app answering.
    assert tag in registry_tags(env, name)
    params = boto3.Session().client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in params}
    assert (values["ImageTag"], values["ContainerName"]) == (tag, name)
    page = requests.get(f"http://127.0.0.1:{port}/", timeout=10).text
    assert re.search(r"\| Current time is \d\d:\d\d:\d\d \|", page), page
    report = json.loads((tmp_path / "all.json").read_text())
    assert report["status"] == "ok" and report["push"]["digest"].startswith("sha256:")
    assert report["deploy"]["image_tag"] == tag
    # pinned: the stack names the digest the registry has for the tag, the one the push reported
    assert values["ImageDigest"] == report["deploy"]["image_digest"] == report["push"]["digest"]
    assert report["deploy"]["rollout"][0]["verdict"] == "completed" and report["deploy"]["probe"] is None

    # Deploying the same tag again is an empty change set: success, "no changes".
    # (and the application is probed: here the local target stands in for the load balancer)
    code, out3, err3 = cli(capsys, "deploy", *common, "--stack", stack, "--probe-url", f"http://127.0.0.1:{port}")
    assert (code, "no changes" in err3) == (0, True), err3
    assert "(no changes)" in out3
    assert f"PROBE=http://127.0.0.1:{port}/healthz:200" in out3

    # The token is nowhere: build output, child argv/env, reports, image history/config/layers.
    assert not leaks(out + err + out2 + err2 + out3 + err3, token)
    assert children, "the build ran the docker CLI"
    for argv, child_env in children:
        assert not leaks(" ".join(argv), token), argv
        assert not any(leaks(v, token) for v in child_env.values()), argv
    for path in tmp_path.glob("*.json"):
        assert not leaks(path.read_bytes(), token), path
    ref = f"{name}:{tag}"
    for what in (["history", "--no-trunc", ref], ["image", "inspect", ref]):
        shown = subprocess.run(["docker", *what], capture_output=True, check=True).stdout
        assert not leaks(shown, token), what
    saved = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "-o", saved, ref], check=True)
    with tarfile.open(saved) as outer:
        members = [m for m in outer.getmembers() if m.isfile()]
        assert any(m.name.endswith("layer.tar") for m in members)
        for member in members:
            blob = outer.extractfile(member).read()
            assert not leaks(blob, token), member.name
            assert b"pipconf" not in blob or member.name.endswith(".json"), member.name

    # Clean-up of the walkthrough: stack (and its ECR images) and the local target.
    assert cli(capsys, "teardown", *common, "--stack", stack)[0] == 0
    assert cli(capsys, "teardown", *common, "--target", "local")[0] == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_smoke_test_failure_pushes_and_deploys_nothing(env, published, names, cleanup, capsys, tmp_path):
    args = ["--context", APP, "--image-name", names["image"], "--tag", names["tag"], "--target", "local"]
    report = tmp_path / "r.json"
    code, _, err = cli(capsys, "all", *args, "--smoke-path", "/missing", "--smoke-timeout", "15", "--report", report)
    assert code == 1
    assert "ERROR: smoke test of" in err and "HTTP 404 after" in err and "(not retried)" in err
    assert "container logs of" in err and '"GET /missing HTTP/1.1" 404' in err  # gunicorn's access log
    data = json.loads(report.read_text())
    assert "build" in data and "push" not in data and "deploy" not in data
    assert data["smoke_test"]["status"] == 404 and data["smoke_test"]["path"] == "/missing"
    assert names["tag"] not in registry_tags(env, names["image"])
    client = docker.from_env()
    assert not client.containers.list(all=True, filters={"label": f"{containers.LABEL}=smoke"})
    assert not client.containers.list(all=True, filters={"name": names["image"]})


def test_registry_down_at_push_is_retried_then_named_without_deploying(
    env, published, names, cleanup, capsys, tmp_path
):
    down = f"127.0.0.1:{containers.free_port()}"
    args = ["--context", APP, "--image-name", names["image"], "--tag", names["tag"], "--target", "local"]
    report = tmp_path / "r.json"
    code, _, err = cli(capsys, "all", *args, "--registry", down, "--push-retries", "2", "--report", report)
    assert code == 3  # the tag check before the push finds the registry down: a precondition
    assert (
        len(
            re.findall(
                r"registry GET http://\S+: could not be reached \(connection refused\); retry [12] of 2 in \d\.\ds", err
            )
        )
        == 2
    )
    assert re.search(
        rf"ERROR: registry unreachable: GET http://{down}/v2/\S+ could not be reached \(connection refused\), 3 "
        r"attempts; nothing was pushed",
        err,
    ), err
    assert f"TIP: check that the registry {down} is up" in err
    data = json.loads(report.read_text())
    assert "smoke_test" in data and "push" not in data and "deploy" not in data
    assert not docker.from_env().containers.list(all=True, filters={"name": names["image"]})


def test_expired_token_fails_before_building(env, endpoint, names, capsys):
    args = ["--context", APP, "--image-name", names["image"], "--tag", names["tag"]]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CA_INDEX_USERNAME", "aws")
        mp.setenv("CA_INDEX_PASSWORD", "an-expired-token")
        code, _, err = cli(capsys, "build", *args, "--repository-url", endpoint)
    assert code == 1
    assert "refused the credentials (HTTP 401)" in err
    assert "TIP: the CodeArtifact token may have expired" in err
    assert not docker.from_env().images.list(name=names["image"])
