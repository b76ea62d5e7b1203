"""What a run of the stages leaves behind, with AWS in moto (in-process) and the Docker side faked.

The fakes stand for the Docker engine's world (images built, tags pushed); CloudFormation, ECR and STS are
moto's, so the assertions are about the stack, the repository and the role as AWS would see them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

moto = pytest.importorskip("moto")

from jenkins_codeartifact import index as indexes  # noqa: E402
from jenkins_codeartifact.consume import cache, containers, image, tags  # noqa: E402
from jenkins_codeartifact.consume import pipeline as consume  # noqa: E402
from jenkins_codeartifact.consume import registry as registries  # noqa: E402
from jenkins_codeartifact.errors import ConfigError, OperationError, PreconditionError  # noqa: E402
from jenkins_codeartifact.settings import Settings  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[2] / "application_src" / "application.yml"
ROLE = "arn:aws:iam::123456789012:role/deployer"
INDEX = indexes.Index("https://x/pypi/r/", "https://x/pypi/r/simple/", "aws", "token", "x")


class Engine:
    def ping(self) -> bool:
        return True


@dataclass
class Docker:
    """The engine's side of the world: what was built, smoke-tested and pushed (and where the repo was)."""

    built: list[str] = field(default_factory=list)
    tested: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    repositories_at_push: list[set[str]] = field(default_factory=list)
    smoke_fails: bool = False
    build_options: list[dict[str, Any]] = field(default_factory=list)
    cache_lookups: list[str] = field(default_factory=list)
    cache_present: bool = False  # whether the registry has the cache tag (the engine's answer)
    cache_push_fails: bool = False


@pytest.fixture
def world(monkeypatch, tmp_path):
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDFORMATION", "AWS_ENDPOINT_URL_ECR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")  # moto models no rollout: its services start complete
    state = Docker()

    def build(index, **kw):
        state.built.append(kw["image"])
        options = {k: kw[k] for k in ("inline_cache", "cache_from") if k in kw}
        state.build_options.append({**options, "build_args": dict(kw.get("build_args") or {})})
        return image.BuildResult(kw["image"], "sha256:" + "1" * 64, 1.0, "buildx")

    def smoke_test(client, ref, **kw):
        state.tested.append(ref)
        if state.smoke_fails:
            raise OperationError(f"smoke test of {ref} failed: HTTP 500 (GET /healthz)")
        return containers.SmokeResult(ref, "http://127.0.0.1:1/healthz", 200, 0.1)

    def push(client, local, registry, name, tag, **kw):
        if tag.startswith("buildcache") and state.cache_push_fails:
            raise OperationError(f"push of {registry.reference(name, tag)} failed after 1 attempts: denied")
        digest = "sha256:" + "2" * 64
        if registry.ecr:  # what the engine's push leaves in ECR: the manifest under the tag
            ecr = boto3.client("ecr", region_name="eu-west-1")
            repositories = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
            state.repositories_at_push.append(repositories)
            if name in repositories:
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": "sha256:" + "3" * 64},
                    "layers": [],
                }
                put = ecr.put_image(repositoryName=name, imageTag=tag, imageManifest=json.dumps(manifest))
                digest = put["image"]["imageId"]["imageDigest"]
        state.pushed.append(registry.reference(name, tag))
        return registries.PushResult(registry.reference(name, tag), digest, 1)

    def lookup(client, reference, auth=None, timeout=0.0):
        state.cache_lookups.append(reference)
        return "" if state.cache_present else "not in the registry yet (a first build)"

    monkeypatch.setattr(image, "build", build)
    monkeypatch.setattr(cache, "lookup", lookup)
    monkeypatch.setattr(containers, "smoke_test", smoke_test)
    monkeypatch.setattr(registries, "push", push)
    monkeypatch.setattr(tags, "lookup", lambda *a, **kw: None)  # the registry holds no earlier image
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with moto.mock_aws():
        yield state


def vpc() -> tuple[str, ...]:
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    return (f"VPC={vpc_id}", f"SubnetA={subnets[0]['SubnetId']}", f"SubnetB={subnets[1]['SubnetId']}")


def stages(tmp_path, **kw: Any) -> consume.Stages:
    base: dict[str, Any] = {
        "context": str(tmp_path),
        "image_name": "app",
        "tag": "5",
        "region": "eu-west-1",
        "role_arn": ROLE,
        "stack": "consumer",
        "template": str(TEMPLATE),
        "params": vpc(),
        "no_probe": True,  # moto's load balancer has no address to GET
    }
    base.update(kw)
    return consume.Stages(Settings(**base), docker_factory=Engine, index_resolver=lambda s: INDEX)


def stack_parameters(name: str = "consumer") -> dict[str, str] | None:
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    try:
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return None
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}


def assumed_roles() -> list[str]:
    from moto.sts.models import sts_backends

    return [role.role_arn for backend in sts_backends.values() for b in backend.values() for role in b.assumed_roles]


def test_all_builds_tests_pushes_into_the_stacks_repository_and_deploys_the_tag(world, tmp_path):
    pipeline = stages(tmp_path)
    pipeline.run("all")
    assert (world.built, world.tested) == (["app:5"], ["app:5"])
    # the release tag, then the cache tag the next agent's build reuses layers from
    assert len(world.pushed) == 2 and world.pushed[0].endswith("/app:5") and world.pushed[1].endswith("/app:buildcache")
    # the first deployment to ECR: the stack (holding the repository) existed before the push
    assert world.repositories_at_push == [{"app"}, {"app"}]
    params = stack_parameters()
    assert params is not None and (params["ImageTag"], params["ContainerName"]) == ("5", "app")
    record = pipeline.record
    # pinned: the stack runs the digest the tag had in ECR when it was deployed
    assert params["ImageDigest"] == record["push"]["digest"] == record["deploy"]["image_digest"]
    assert record["stack_created"]["status"] == "CREATE_COMPLETE"
    assert (record["deploy"]["status"], record["deploy"]["image_tag"]) == ("UPDATE_COMPLETE", "5")
    assert consume.summary(record)[:4] == [
        "IMAGE=app:5",
        "IMAGE_ID=sha256:" + "1" * 64,
        f"PUSHED={world.pushed[0]}",
        f"DIGEST={record['push']['digest']}",
    ]


def test_one_run_assumes_the_role_once(world, tmp_path):
    stages(tmp_path).run("all")  # CloudFormation twice, ECR once: one AssumeRole
    assert assumed_roles() == [ROLE]


@pytest.mark.parametrize(
    "override",
    [{"registry": "127.0.0.1:5000"}, {"template": None}, {"target": "local"}],
    ids=["own-registry", "no-template", "local-target"],
)
def test_no_stack_is_created_before_the_push_otherwise(world, tmp_path, override):
    stages(tmp_path, **override).push()
    assert [ref.rsplit(":", 1)[1] for ref in world.pushed] == ["5", "buildcache"]
    assert stack_parameters() is None


def test_a_failed_smoke_test_pushes_and_deploys_nothing(world, tmp_path):
    world.smoke_fails = True
    pipeline = stages(tmp_path)
    with pytest.raises(OperationError, match="smoke test of app:5 failed"):
        pipeline.run("all")
    assert (world.built, world.pushed) == (["app:5"], [])
    assert stack_parameters() is None
    assert "build" in pipeline.record and "push" not in pipeline.record and "deploy" not in pipeline.record


def test_build_reuses_the_registry_cache_when_the_registry_has_it(world, tmp_path, caplog):
    world.cache_present = True
    stages(tmp_path, registry="127.0.0.1:5000").build()
    assert world.cache_lookups == ["127.0.0.1:5000/app:buildcache"]
    assert world.build_options == [
        {"inline_cache": True, "cache_from": "127.0.0.1:5000/app:buildcache", "build_args": {}}
    ]


def test_without_a_cache_image_the_build_is_cold_after_one_line(world, tmp_path, caplog):
    stages(tmp_path, registry="127.0.0.1:5000", cache_tag="main").build()
    assert world.build_options[0]["cache_from"] is None and world.build_options[0]["inline_cache"] is True
    lines = [r.getMessage() for r in caplog.records if "registry cache" in r.getMessage()]
    assert lines == [
        "registry cache 127.0.0.1:5000/app:main: not in the registry yet (a first build); building without it"
    ]


def test_no_registry_cache_asks_no_registry_and_pushes_no_cache_tag(world, tmp_path):
    pipeline = stages(tmp_path, registry="127.0.0.1:5000", no_registry_cache=True, target="local")
    pipeline.build()
    pipeline.push()
    assert world.cache_lookups == []
    assert world.build_options[0]["inline_cache"] is False and world.build_options[0]["cache_from"] is None
    assert world.pushed == ["127.0.0.1:5000/app:5"]


def test_a_failed_cache_tag_push_is_a_warning_not_a_failed_push(world, tmp_path, caplog):
    world.cache_push_fails = True
    pipeline = stages(tmp_path, registry="127.0.0.1:5000", target="local")
    result = pipeline.push()
    assert result.reference == "127.0.0.1:5000/app:5" and "cache" not in pipeline.record["push"]
    assert any("could not push buildcache" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_failed_build_is_diagnosed_once_and_never_built_again(world, tmp_path, monkeypatch):
    built: list[str] = []

    def build(index, **kw):
        built.append(kw["image"])
        raise OperationError(f"build of {kw['image']} failed: uv: flask==99.0.0: no such version on the index")

    monkeypatch.setattr(image, "build", build)
    with pytest.raises(OperationError, match="no such version on the index"):
        stages(tmp_path, registry="127.0.0.1:5000", target="local").run("all")
    assert built == ["app:5"] and world.tested == [] and world.pushed == []


def test_a_dockerfile_that_bypasses_the_index_stops_all_before_the_first_stage(world, tmp_path, caplog):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\nCOPY . .\nRUN pip install -r requirements.txt\n")
    with pytest.raises(ConfigError) as info:
        stages(tmp_path, registry="127.0.0.1:5000", target="local").run("all")
    assert info.value.exit_code == 2
    assert info.value.message.startswith(f"{tmp_path / 'Dockerfile'}:3: `pip install -r requirements.txt` does not")
    assert world.built == [] and world.cache_lookups == [] and world.pushed == []
    stages(tmp_path, registry="127.0.0.1:5000", target="local", allow_public_index=True).run("build")
    assert world.built == ["app:5"]
    assert any("allowed by --allow-public-index" in r.getMessage() for r in caplog.records)


def test_a_bad_cache_tag_stops_the_build_before_it_starts(world, tmp_path):
    with pytest.raises(ConfigError, match="--cache-tag 'a b': not a valid image tag"):
        stages(tmp_path, cache_tag="a b").run("build")
    assert world.built == []


def test_build_checks_the_engine_before_the_index(tmp_path):
    resolved: list[Settings] = []

    def no_engine():
        raise containers.docker.errors.DockerException("Error while fetching server API version")

    def resolver(s):
        resolved.append(s)
        return INDEX

    pipeline = consume.Stages(
        Settings(context=str(tmp_path), image_name="app", tag="5"), docker_factory=no_engine, index_resolver=resolver
    )
    with pytest.raises(PreconditionError, match="Docker engine is not reachable"):
        pipeline.build()
    assert resolved == []  # no token was fetched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"tag": "a b"}, "--tag 'a b': not a valid image tag"),
        ({"params": ("VPC",)}, "--param 'VPC': expected KEY=VALUE"),
        ({"stack": None}, "no stack name"),
    ],
)
def test_bad_input_stops_all_before_the_first_stage(world, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        stages(tmp_path, **override).run("all")
    assert (world.built, world.tested, world.pushed) == ([], [], [])
    assert stack_parameters() is None


def test_a_tag_that_is_not_in_the_registry_is_never_deployed(world, tmp_path):
    stages(tmp_path).run("all")  # tag 5 runs
    never_pushed = stages(tmp_path, tag="6")
    with pytest.raises(PreconditionError, match=r"image app:6 is not in ECR .*; nothing was deployed") as info:
        never_pushed.deploy()
    assert info.value.exit_code == 3
    assert "push it first" in (info.value.hint or "")
    params = stack_parameters()
    assert params is not None and params["ImageTag"] == "5"  # no change set was made
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    assert len(cfn.list_change_sets(StackName="consumer")["Summaries"]) <= 2  # the create and the deploy of 5


def test_a_deploy_by_itself_pins_the_digest_and_prints_it(world, tmp_path):
    stages(tmp_path).run("all")
    again = stages(tmp_path)
    again.deploy()  # a later Deploy stage, without a push in this run
    digest = again.record["deploy"]["image_digest"]
    assert digest.startswith("sha256:") and stack_parameters()["ImageDigest"] == digest
    assert f"DIGEST={digest}" in consume.summary(again.record)
