"""What a run of the stages leaves behind, with AWS in moto (in-process) and the Docker side faked.

The fakes stand for the Docker engine's world (images built, tags pushed); CloudFormation, ECR and STS are
moto's, so the assertions are about the stack, the repository and the role as AWS would see them.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

moto = pytest.importorskip("moto")

from jenkins_codeartifact import index as indexes  # noqa: E402
from jenkins_codeartifact.consume import cache, containers, image, tags, uvimage  # noqa: E402
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
    uv_local: str | None = None  # uv's image in the engine (loaded by a build on this agent)


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
        late = kw["late_args"]() if kw.get("late_args") else {}
        options = {k: kw[k] for k in ("inline_cache", "cache_from", "uv_url") if k in kw and (k != "uv_url" or kw[k])}
        state.build_options.append({**options, "build_args": {**(kw.get("build_args") or {}), **late}})
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
    monkeypatch.setattr(uvimage, "local", lambda client: state.uv_local)
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


def test_push_leaves_uv_beside_the_cache_once_and_a_failure_is_a_warning(world, tmp_path, caplog):
    world.uv_local = "jenkins-codeartifact/uv:0.13.9"
    uv_tag = uvimage.registry_tag("buildcache")
    stages(tmp_path, registry="127.0.0.1:5000", target="local").push()
    assert world.pushed == [f"127.0.0.1:5000/app:{t}" for t in ("5", "buildcache", uv_tag)]
    world.pushed.clear()
    world.cache_present = True  # the registry has it now: not pushed again
    stages(tmp_path, registry="127.0.0.1:5000", target="local").push()
    assert world.pushed == ["127.0.0.1:5000/app:5", "127.0.0.1:5000/app:buildcache"]
    world.pushed.clear()
    world.cache_present, world.cache_push_fails = False, True
    pipeline = stages(tmp_path, registry="127.0.0.1:5000", target="local")
    assert pipeline.push().reference == "127.0.0.1:5000/app:5" and "uv" not in pipeline.record["push"]
    assert f"could not push uv as {uv_tag}" in caplog.text


def test_a_dockerfile_taking_uv_gets_the_engines_uv_made_beside_the_cache_lookup(world, tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text("ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9\nFROM ${UV_IMAGE} AS uv\n")
    threads: list[str] = []

    def load(client):
        threads.append(threading.current_thread().name)
        return "jenkins-codeartifact/uv:0.13.9"

    monkeypatch.setattr(uvimage, "load", load)
    uv_tag = uvimage.registry_tag("buildcache")
    stages(tmp_path, registry="127.0.0.1:5000").build()
    assert world.build_options[0]["build_args"] == {"UV_IMAGE": "jenkins-codeartifact/uv:0.13.9"}
    assert threads == ["_uv_image"]  # loaded by a worker while the main thread asked the registry for the cache
    # the registry has neither the cache nor uv's copy (a first build), so uv was loaded
    assert sorted(world.cache_lookups) == ["127.0.0.1:5000/app:buildcache", f"127.0.0.1:5000/app:{uv_tag}"]


SERVED_DOCKERFILE = (
    "ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9\nFROM ${UV_IMAGE} AS uv\nRUN --mount=type=secret,id=uv true\n"
)


def test_uv_is_served_to_a_build_that_shares_this_hosts_network_and_nothing_is_loaded(world, tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text(SERVED_DOCKERFILE)
    events: list[str] = []

    @contextlib.contextmanager
    def served():
        events.append("serving")
        yield "http://127.0.0.1:1/x/uv"
        events.append("stopped")

    def build(index, **kw):
        events.append(f"build uv_url={kw.get('uv_url')} late_args={kw.get('late_args')}")
        return image.BuildResult(kw["image"], "sha256:" + "1" * 64, 1.0, "buildx")

    monkeypatch.setattr(uvimage, "can_serve", lambda client, network: network == "host")
    monkeypatch.setattr(uvimage, "served", served)
    monkeypatch.setattr(uvimage, "load", lambda client: pytest.fail("uv loaded although it was served"))
    monkeypatch.setattr(image, "build", build)
    stages(tmp_path, registry="127.0.0.1:5000").build()
    assert events == ["serving", "build uv_url=http://127.0.0.1:1/x/uv late_args=None", "stopped"]
    assert world.cache_lookups == ["127.0.0.1:5000/app:buildcache"]  # no lookup of uv's registry copy


def test_an_older_dockerfile_or_another_network_gets_uvs_image(world, tmp_path, monkeypatch):
    monkeypatch.setattr(uvimage, "load", lambda client: "jenkins-codeartifact/uv:0.13.9")
    monkeypatch.setattr(uvimage, "served", lambda: pytest.fail("served to a build that cannot fetch it"))
    monkeypatch.setattr(uvimage, "can_serve", lambda client, network: network == "host")
    (tmp_path / "Dockerfile").write_text("ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9\nFROM ${UV_IMAGE} AS uv\n")
    stages(tmp_path).build()  # no secret uv in it: it cannot fetch a served uv
    (tmp_path / "Dockerfile").write_text(SERVED_DOCKERFILE)
    stages(tmp_path, network="bridge").build()
    for options in world.build_options:
        assert "uv_url" not in options and options["build_args"] == {"UV_IMAGE": "jenkins-codeartifact/uv:0.13.9"}


def test_a_build_that_cannot_fetch_the_served_uv_runs_again_with_uvs_image(world, tmp_path, monkeypatch, caplog):
    (tmp_path / "Dockerfile").write_text(SERVED_DOCKERFILE)
    calls: list[dict[str, Any]] = []

    def build(index, **kw):
        calls.append({"uv_url": kw.get("uv_url"), "late": kw["late_args"]() if kw.get("late_args") else None})
        if kw.get("uv_url"):
            raise image.UvUnreachable(f"build of {kw['image']} failed: {image.UV_UNREACHABLE}")
        return image.BuildResult(kw["image"], "sha256:" + "1" * 64, 1.0, "buildx")

    @contextlib.contextmanager
    def served():
        yield "http://127.0.0.1:1/x/uv"

    monkeypatch.setattr(uvimage, "can_serve", lambda client, network: True)
    monkeypatch.setattr(uvimage, "served", served)
    monkeypatch.setattr(uvimage, "load", lambda client: "jenkins-codeartifact/uv:0.13.9")
    monkeypatch.setattr(image, "build", build)
    result = stages(tmp_path).build()
    assert result.image_id == "sha256:" + "1" * 64
    assert calls == [
        {"uv_url": "http://127.0.0.1:1/x/uv", "late": None},
        {"uv_url": None, "late": {"UV_IMAGE": "jenkins-codeartifact/uv:0.13.9"}},
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "uv" in r.getMessage()]
    assert warnings == ["uv: the build could not fetch it from this agent; building again with uv's image"]


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
