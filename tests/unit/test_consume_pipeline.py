"""The order of the pipeline's steps and what they share, with every engine and AWS call faked."""

from __future__ import annotations

from typing import Any

import pytest

from jenkins_codeartifact import aws
from jenkins_codeartifact import index as codeartifact
from jenkins_codeartifact.consume import deploy, image
from jenkins_codeartifact.consume import pipeline as consume
from jenkins_codeartifact.errors import PreconditionError
from jenkins_codeartifact.settings import Settings

INDEX = codeartifact.Index("https://x/pypi/r/", "https://x/pypi/r/simple/", "aws", "token", "x")


class Engine:
    def ping(self):
        return True


@pytest.fixture
def calls(monkeypatch, tmp_path):
    """Every library call the stages make, in order; the AWS session counts how often it is made."""
    log: list[tuple[Any, ...]] = []

    class Session:
        def client(self, service):
            log.append(("client", service))
            return f"<{service}>"

    def session(settings):
        log.append(("session", settings.role_arn))
        return Session()

    def resolve_index(settings, client_factory=None):
        client_factory(settings)
        return INDEX

    def fake(name, result=None):
        def call(*args, **kw):
            log.append((name, *[a for a in args if isinstance(a, str)], kw))
            return result

        return call

    monkeypatch.setattr(aws, "session", session)
    monkeypatch.setattr(codeartifact, "resolve_index", resolve_index)
    monkeypatch.setattr(image, "build", fake("build", image.BuildResult("app:5", "sha256:1", 1.0, "buildx")))
    monkeypatch.setattr(image, "smoke_test", fake("smoke_test", image.SmokeResult("app:5", "u", 200, 1.0)))
    monkeypatch.setattr(image, "ecr_login", fake("ecr_login", image.Registry("1.dkr.ecr.x", ecr=True)))
    monkeypatch.setattr(image, "push", fake("push", image.PushResult("1.dkr.ecr.x/app:5", "sha256:2", 1)))
    created = deploy.DeployResult("cloudformation", "", "CREATE_COMPLETE", True, stack="consumer")
    monkeypatch.setattr(
        deploy, "create_stack_without_image", fake("create_stack_without_image", created), raising=False
    )
    deployed = deploy.DeployResult("cloudformation", "5", "UPDATE_COMPLETE", True, stack="consumer")
    monkeypatch.setattr(deploy, "deploy_stack", fake("deploy_stack", deployed))
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return log


def settings(tmp_path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "context": str(tmp_path),
        "image_name": "app",
        "tag": "5",
        "domain": "my-domain",
        "repository": "my-repository",
        "role_arn": "arn:aws:iam::111122223333:role/deployer",
        "stack": "consumer",
        "template": "application.yml",
        "params": ("VPC=vpc-1",),
    }
    base.update(kw)
    return Settings(**base)


def names(log):
    return [entry[0] for entry in log if entry[0] != "client"]


def test_all_assumes_the_role_once(calls, tmp_path):
    consume.Stages(settings(tmp_path), docker_factory=Engine).run("all")
    assert [e for e in calls if e[0] == "session"] == [("session", "arn:aws:iam::111122223333:role/deployer")]
    assert [e[1] for e in calls if e[0] == "client"] == ["codeartifact", "cloudformation", "ecr", "cloudformation"]


def test_first_ecr_deployment_creates_the_stack_before_the_push(calls, tmp_path):
    pipeline = consume.Stages(settings(tmp_path), docker_factory=Engine)
    pipeline.run("all")
    assert names(calls) == [
        "session",
        "build",
        "smoke_test",
        "create_stack_without_image",
        "ecr_login",
        "push",
        "deploy_stack",
    ]
    create = next(e for e in calls if e[0] == "create_stack_without_image")
    assert create[1:3] == ("<cloudformation>", "consumer")
    assert create[3] == {
        "template": "application.yml",
        "params": {"VPC": "vpc-1"},
        "defaults": {"ContainerName": "app"},
    }
    deploy_call = next(e for e in calls if e[0] == "deploy_stack")
    assert deploy_call[-1]["defaults"] == {"ContainerName": "app"}
    assert pipeline.record["stack_created"]["status"] == "CREATE_COMPLETE"


@pytest.mark.parametrize(
    "override",
    [{"registry": "127.0.0.1:5000"}, {"template": None}, {"target": "local"}],
    ids=["own-registry", "no-template", "local-target"],
)
def test_no_stack_is_created_before_the_push_otherwise(calls, tmp_path, override):
    consume.Stages(settings(tmp_path, **override), docker_factory=Engine).push()
    assert "create_stack_without_image" not in names(calls)
    assert "push" in names(calls)


def test_build_checks_the_engine_before_the_index(tmp_path):
    resolved: list[Settings] = []

    def no_engine():
        raise image.docker.errors.DockerException("Error while fetching server API version")

    def resolver(s):
        resolved.append(s)
        return INDEX

    pipeline = consume.Stages(settings(tmp_path), docker_factory=no_engine, index_resolver=resolver)
    with pytest.raises(PreconditionError, match="Docker engine is not reachable"):
        pipeline.build()
    assert resolved == []


def test_tag_and_params_are_checked_once(calls, tmp_path, monkeypatch):
    checked: list[tuple[str, str | None]] = []
    parsed: list[tuple[str, ...]] = []
    real_ref, real_params = image.validate_ref, consume.parse_params

    def validate_ref(name, tag):
        checked.append((name, tag))
        return real_ref(name, tag)

    def parse_params(values):
        parsed.append(tuple(values))
        return real_params(values)

    monkeypatch.setattr(image, "validate_ref", validate_ref)
    monkeypatch.setattr(consume, "parse_params", parse_params)
    pipeline = consume.Stages(settings(tmp_path), docker_factory=Engine)
    pipeline.run("all")
    assert checked == [("app", "5")]
    assert parsed == [("VPC=vpc-1",)]
    assert pipeline.record["image"] == "app:5"
