"""The first deployment to ECR, on application.yml itself (moto in-process, no network): the stack is
created without an image (it holds the ECR repository the push needs), then the tag adds the service."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

moto = pytest.importorskip("moto")

from jenkins_codeartifact.consume import changeset  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[2] / "application_src" / "application.yml"


@pytest.fixture
def aws(monkeypatch):
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDFORMATION", "AWS_ENDPOINT_URL_ECR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with moto.mock_aws():
        yield


def network() -> dict[str, str]:
    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    return {"VPC": vpc, "SubnetA": subnets[0], "SubnetB": subnets[1]}


def resource_types(cfn, name: str) -> set[str]:
    return {r["ResourceType"] for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]}


def test_empty_image_tag_makes_a_stack_with_the_repository_and_no_service(aws):
    cfn = boto3.client("cloudformation")
    created = changeset.create_stack_without_image(
        cfn, "consumer", template=str(TEMPLATE), params=network(), defaults={"ContainerName": "shop"}, poll=0
    )
    assert created is not None and created.status == "CREATE_COMPLETE"
    assert boto3.client("ecr").describe_repositories()["repositories"][0]["repositoryName"] == "shop"
    kinds = resource_types(cfn, "consumer")
    assert {"AWS::ECR::Repository", "AWS::ElasticLoadBalancingV2::LoadBalancer"} <= kinds
    assert not kinds & {"AWS::ECS::Service", "AWS::ECS::TaskDefinition"}
    # a second push stage (or a rerun) leaves it alone
    assert changeset.create_stack_without_image(cfn, "consumer", template=str(TEMPLATE), poll=0) is None

    # after the push, the deploy sets the tag: the service appears, every other parameter is kept
    result = changeset.deploy_stack(
        cfn, "consumer", "7", template=str(TEMPLATE), defaults={"ContainerName": "x"}, poll=0
    )
    assert result.status == "UPDATE_COMPLETE"
    assert {"AWS::ECS::Service", "AWS::ECS::TaskDefinition"} <= resource_types(cfn, "consumer")
    params = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName="consumer")["Stacks"][0]["Parameters"]
    }
    assert (params["ImageTag"], params["ContainerName"]) == ("7", "shop")
