"""The IAM set-up against real runs: every AWS call a command makes is allowed by its job's policy.

A botocore event hook on every client the commands create records each operation with its parameters
while ca-publish runs against the CodeArtifact stand-in and ca-consume-deploy deploys and tears down on
moto's CloudFormation. Each call becomes the IAM request AWS would evaluate (the resource ARN built from
its parameters) and is checked against the job's policy rendered from infra/jenkins-iam.yml for this
run's names. The policy template itself is deployed on moto through a change set. (moto cannot create
CodeArtifact resources, so infra/codeartifact.yml is only linted: tests/unit/test_infra_policies.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import requests
from tests import infra_iam as iam

from jenkins_codeartifact.cli import consume_deploy, publish

ROOT = Path(__file__).resolve().parents[2]

Call = tuple[str, str, dict[str, Any]]


def _package_name(body: Any) -> str:
    """The ``name`` field of twine's multipart upload (a requests-toolbelt encoder, or bytes)."""
    encoder = getattr(body, "encoder", body)
    fields = getattr(encoder, "fields", None)
    if isinstance(fields, dict | list):
        return str(dict(fields)["name"])
    match = re.search(rb'name="name"\r\n\r\n([^\r]+)', body if isinstance(body, bytes) else b"")
    assert match, "cannot find the package name in the upload"
    return match.group(1).decode()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    """(IAM service prefix, operation, parameters) of every AWS call made in this test.

    botocore calls come from an event hook on every client the commands create. HTTP requests to the
    CodeArtifact repository endpoint (``/pypi/REPOSITORY/``, with the token) are recorded as the IAM
    action CodeArtifact checks for them: a read of the simple API is ReadFromRepository, twine's
    upload (a POST to the endpoint) is PublishPackageVersion.
    """
    calls: list[Call] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.service_model.signing_name, model.name, dict(params)))

    real = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = real(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.*.*", record)
        return client

    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        repository = os.environ.get("CA_REPOSITORY", "")
        path = urllib.parse.urlsplit(request.url or "").path
        if repository and path.startswith(f"/pypi/{repository}/"):
            where = {
                "domain": os.environ["CA_DOMAIN"],
                "domainOwner": os.environ["CA_DOMAIN_OWNER"],
                "repository": repository,
            }
            if request.method == "POST":
                package = {**where, "format": "pypi", "package": _package_name(request.body)}
                calls.append(("codeartifact", "PublishPackageVersion", package))
            else:
                calls.append(("codeartifact", "ReadFromRepository", where))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    monkeypatch.setattr(requests.Session, "send", send)
    yield calls


@pytest.fixture
def env(sandbox_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The sandbox in os.environ, run from a scratch directory, with ECR as the registry (no CA_REGISTRY)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CA_REGISTRY", raising=False)
    return sandbox_environ


def denied(job: str, calls: list[Call], **names: str) -> list[str]:
    """The recorded calls ``job``'s policy (rendered for ``names``) would refuse, or that it should not make."""
    params = {**iam.PARAMS, **names}
    policy = iam.policies(params)[iam.JOB_POLICIES[job]]
    problems = []
    for service, operation, call_params in calls:
        if job not in {**iam.OPERATIONS, **iam.INDEX_OPERATIONS}.get((service, operation), set()):
            problems.append(f"{service}:{operation} is not a {job} operation (OPERATIONS, tests/infra_iam.py)")
            continue
        request = iam.requirement(service, operation, call_params, stack=params["ConsumerStackName"])
        if not iam.allows(policy, request):
            problems.append(f"{job} policy refuses {request}")
    return problems


def operations(calls: list[Call]) -> set[tuple[str, str]]:
    return {(service, op) for service, op, _ in calls}


def vpc_params() -> list[str]:
    ec2 = boto3.Session().client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    a, b = subnets[0]["SubnetId"], subnets[1]["SubnetId"]
    return ["--param", f"VPC={vpc}", "--param", f"SubnetA={a}", "--param", f"SubnetB={b}"]


def test_publish_makes_only_calls_the_producer_policy_allows(env, recorded, capsys, tmp_path):
    project = tmp_path / "package"
    shutil.copytree(ROOT / "package_src", project, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    pyproject = project / "pyproject.toml"
    version = f"0.0.1.dev{uuid.uuid4().int % 10**9}"  # a pre-release below the app's pin: nobody installs it
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text()))
    argv = [str(project), "--skip-existing", "--dist-dir", str(tmp_path / "dist")]
    assert publish.main(argv) == 0, capsys.readouterr().err  # a new version: uploaded
    assert publish.main(argv) == 0, capsys.readouterr().err  # there now: --skip-existing compares sha256
    assert not denied("producer", recorded, DomainOwner=env["CA_DOMAIN_OWNER"])
    producer_ops = {op for op, jobs in {**iam.OPERATIONS, **iam.INDEX_OPERATIONS}.items() if "producer" in jobs}
    assert operations(recorded) == producer_ops  # every grant of the producer is used
    published = {p["package"] for s, op, p in recorded if op == "PublishPackageVersion"}
    assert published == {"fantastic-ascii"}
    # The same calls under the consumer's policy: the version check and the upload are the producer's alone.
    refused = denied("consumer", recorded, DomainOwner=env["CA_DOMAIN_OWNER"])
    assert {line.split(" is not")[0] for line in refused} == {
        "codeartifact:DescribePackage",
        "codeartifact:DescribePackageVersion",
        "codeartifact:GetAssociatedPackageGroup",
        "codeartifact:ListPackageVersionAssets",
        "codeartifact:PublishPackageVersion",
    }


def test_promote_and_prune_make_only_calls_the_release_policy_allows(env, recorded, capsys, tmp_path):
    """Publish to dev (its calls are the producer's), then ca-repo promote dev -> release and a prune plan of dev."""
    from tests.helpers import fresh_package

    from jenkins_codeartifact.cli import repo

    older = fresh_package(tmp_path / "older", 6)  # prune has a candidate: it asks the upstreams about it
    assert publish.main([str(older.path), "--repository", "dev"]) == 0
    project = fresh_package(tmp_path, 6)
    assert publish.main([str(project.path), "--repository", "dev", "--report", "publish.json"]) == 0
    recorded.clear()
    argv = ["promote", "fantastic-ascii", project.version, "--from", "dev", "--to", "release"]
    assert repo.main([*argv, "--from-report", "publish.json"]) == 0, capsys.readouterr().err
    prune = ["prune", "fantastic-ascii", "--repository", "dev", "--keep", "1", "--action", "unlist", "--dry-run"]
    assert repo.main(prune) == 0, capsys.readouterr().err
    names = {"DomainOwner": env["CA_DOMAIN_OWNER"], "RepositoryName": "dev", "ReleaseRepositoryName": "release"}
    assert not denied("release", recorded, **names)
    assert {op for _, op in operations(recorded)} >= {
        "CopyPackageVersions",
        "ListPackageVersions",
        "DescribeRepository",
    }
    elsewhere = denied("release", recorded, **{**names, "ReleaseRepositoryName": "prod"})
    assert any("CopyPackageVersions" in line for line in elsewhere), (
        "the copy is allowed into the release repository only"
    )


def test_deploy_makes_only_calls_the_consumer_policy_allows_and_teardown_is_no_jobs(
    env, recorded, capsys, monkeypatch, tmp_path
):
    stack = f"consumer-{uuid.uuid4().hex[:8]}"
    common = ["--stack", stack, "--image-name", "application"]
    template = ["--template", str(ROOT / "application_src" / "application.yml"), *vpc_params()]
    # The first push creates the stack (and its ECR repository); no engine here, so the layers do not go
    # up: the images the deploys pin by digest are put into ECR below, as an engine's push would leave them.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert consume_deploy.main(["push", "--tag", "1", *common, *template]) == 3, capsys.readouterr().err
    ecr = boto3.Session().client("ecr")
    for tag in ("1", "2"):
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": "sha256:" + tag * 64,
            },
            "layers": [],
        }
        ecr.put_image(repositoryName="application", imageTag=tag, imageManifest=json.dumps(manifest))
    recorded.clear()  # the push above and the test's own calls
    # --no-probe: moto's load balancer has no address to GET (the rollout's ECS calls are recorded)
    assert consume_deploy.main(["deploy", "--tag", "1", "--no-probe", *common, *template]) == 0, capsys.readouterr().err
    assert consume_deploy.main(["deploy", "--tag", "2", "--no-probe", *common]) == 0, capsys.readouterr().err
    deploys = list(recorded)
    recorded.clear()
    assert consume_deploy.main(["teardown", *common]) == 0, capsys.readouterr().err
    teardown = list(recorded)

    assert not denied("consumer", deploys, ConsumerStackName=stack)
    assert {
        ("cloudformation", op)
        for op in ("DescribeStacks", "GetTemplateSummary", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet")
    } <= operations(deploys)
    assert ("ecs", "DescribeServices") in operations(deploys)  # the rollout is followed
    # The same deploy for another stack is refused: the grants name this one.
    assert denied("consumer", deploys, ConsumerStackName="consumer-prod")
    # teardown (the walkthrough's clean-up) needs rights no job holds, on purpose: whoever created the stack runs it
    assert operations(teardown) >= {("cloudformation", "DeleteStack"), ("ecr", "ListImages")}
    for service, op, _ in teardown:
        assert iam.OPERATIONS[(service, op)] & {"teardown"}, (service, op)
    for job in iam.JOB_POLICIES:
        policy = iam.policies({**iam.PARAMS, "ConsumerStackName": stack})[iam.JOB_POLICIES[job]]
        delete = iam.requirement("cloudformation", "DeleteStack", {"StackName": stack})
        assert not iam.allows(policy, delete), job


def test_first_push_to_ecr_makes_only_calls_the_consumer_policy_allows(env, recorded, capsys, monkeypatch, tmp_path):
    """push on a fresh account: create the stack (empty ImageTag), log in to ECR, then push.

    No Docker engine is reachable here on purpose (DOCKER_HOST names a missing socket), so the run stops
    at the push itself with exit 3, after every AWS call of the stage (should push ever check the engine
    first, give this test an engine instead: the point is the calls before the layers go up).
    """
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    stack = f"consumer-{uuid.uuid4().hex[:8]}"
    common = ["--stack", stack, "--image-name", "application", "--tag", "1"]
    template = ["--template", str(ROOT / "application_src" / "application.yml"), *vpc_params()]
    recorded.clear()  # the test's own look-up of the default VPC
    code = consume_deploy.main(["push", *common, *template])
    err = capsys.readouterr().err
    assert code == 3, err
    assert {("cloudformation", "CreateChangeSet"), ("ecr", "GetAuthorizationToken")} <= operations(recorded)
    assert not denied("consumer", recorded, ConsumerStackName=stack)
    boto3.Session().client("cloudformation").delete_stack(StackName=stack)


@pytest.mark.docker
def test_build_makes_only_calls_the_consumer_policy_allows(docker_environ, recorded, capsys, monkeypatch, tmp_path):
    """The build stage's AWS calls (token, endpoint, the index probe), on an image that only reads its secret."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN --mount=type=secret,id=pipconf test -s /run/secrets/pipconf\n"
    )
    name = f"infra-{uuid.uuid4().hex[:8]}"
    try:
        code = consume_deploy.main(["build", "--context", str(tmp_path), "--image-name", name, "--tag", "1"])
        assert code == 0, capsys.readouterr().err
    finally:
        import docker

        with contextlib.suppress(docker.errors.ImageNotFound):
            docker.from_env().images.remove(f"{name}:1", force=True)
    assert operations(recorded) == {
        ("codeartifact", "GetAuthorizationToken"),
        ("codeartifact", "GetRepositoryEndpoint"),
        ("codeartifact", "ReadFromRepository"),  # the token probe before Docker starts (pip's reads are inside)
    }
    assert not denied("consumer", recorded, DomainOwner=docker_environ["CA_DOMAIN_OWNER"])


def test_the_iam_template_deploys_through_a_change_set(env, capsys):
    """infra/deploy.py creates the policies and roles as rendered, then finds nothing to change."""
    cfn, iam_client = boto3.Session().client("cloudformation"), boto3.Session().client("iam")
    name = f"jenkins-iam-{uuid.uuid4().hex[:8]}"
    values = {**iam.PARAMS, "DomainOwner": env["CA_DOMAIN_OWNER"], "ConsumerStackName": "consumer-x"}
    argv = [name, str(iam.JENKINS_IAM), *(f"{k}={v}" for k, v in values.items()), "--poll", "0.2"]
    try:
        assert iam.deploy_script.main(argv) == 0, capsys.readouterr().err
        err = capsys.readouterr().err
        assert f"create stack {name}" in err and "Add ConsumerPolicy (AWS::IAM::ManagedPolicy)" in err, err
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
        }
        expected = iam.policies(values)
        for logical in ("ProducerPolicy", "ConsumerPolicy"):
            policy = iam_client.get_policy(PolicyArn=resources[logical])["Policy"]
            version = iam_client.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
            document = version["PolicyVersion"]["Document"]
            stored = json.loads(document) if isinstance(document, str) else document
            assert stored == expected[logical], logical
        for job in ("Producer", "Consumer"):
            role = iam_client.get_role(RoleName=resources[f"{job}Role"])["Role"]
            trust = role["AssumeRolePolicyDocument"]
            trust = json.loads(trust) if isinstance(trust, str) else trust
            assert trust["Statement"][0]["Principal"]["Service"] == ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]
            profile = iam_client.get_instance_profile(InstanceProfileName=resources[f"{job}InstanceProfile"])
            assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [role["RoleName"]]
        # Again with only one value given: the others keep theirs, nothing changes, still a success.
        assert iam.deploy_script.main([name, str(iam.JENKINS_IAM), "ContainerName=application"]) == 0
        assert "no changes" in capsys.readouterr().err
    finally:
        cfn.delete_stack(StackName=name)


def test_deploy_script_refuses_a_bad_value_before_any_aws_call(env, recorded, capsys):
    code = iam.deploy_script.main(["jenkins-iam", str(iam.JENKINS_IAM), "DomainOwner=1111-2222-3333"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == (
        "ERROR: Parameter 'DomainOwner' failed to satisfy constraint: "
        "must be empty or a 12-digit AWS account id such as 111122223333"
    )
    assert "Traceback" not in err
    assert recorded == []
