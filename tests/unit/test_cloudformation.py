"""CloudFormation stack states moto cannot produce, driven through botocore's Stubber."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time

import boto3
import pytest
from botocore.stub import ANY, Stubber

from jenkins_codeartifact import signals
from jenkins_codeartifact.consume import changeset, cloudformation
from jenkins_codeartifact.consume.target import validate_target
from jenkins_codeartifact.errors import ConfigError, OperationError, PreconditionError

STACK = "consumer"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/consumer/1"
CS_ID = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/ca-8/1"
NOW = dt.datetime.now(dt.UTC)  # events after it belong to the deploy under test
PARAMS = ["VPC", "SubnetA", "SubnetB", "ContainerName", "ImageTag"]


@pytest.fixture
def cfn():
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def _info(caplog):
    caplog.set_level(logging.INFO, logger="jenkins_codeartifact")


def stack(status, tag="7", outputs=None):
    s = {
        "StackName": STACK,
        "StackId": STACK_ID,
        "CreationTime": NOW,
        "StackStatus": status,
        "Parameters": [{"ParameterKey": k, "ParameterValue": tag if k == "ImageTag" else "v"} for k in PARAMS],
    }
    if outputs:
        s["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
    return {"Stacks": [s]}


def events(*failed):
    evs = [
        {
            "StackId": STACK_ID,
            "EventId": f"e{i}",
            "StackName": STACK,
            "LogicalResourceId": logical,
            "ResourceType": rtype,
            "Timestamp": NOW + dt.timedelta(hours=1),
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }
        for i, (logical, rtype, status, reason) in enumerate(failed)
    ]
    evs.append(
        {
            "StackId": STACK_ID,
            "EventId": "old",
            "StackName": STACK,
            "LogicalResourceId": "Old",
            "ResourceType": "AWS::ECS::Service",
            "Timestamp": NOW - dt.timedelta(days=30),
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "long ago",
        }
    )
    return {"StackEvents": evs}


def missing(stub):
    stub.add_client_error("describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist")


def expect_change_set(stub, kind="UPDATE", params=None):
    expected = {
        "StackName": STACK,
        "ChangeSetName": ANY,
        "ChangeSetType": kind,
        "Parameters": params or ANY,
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        "Description": ANY,
    }
    if kind == "UPDATE":
        expected["UsePreviousTemplate"] = True
    else:
        expected["TemplateBody"] = ANY
    stub.add_response("create_change_set", {"Id": CS_ID, "StackId": STACK_ID}, expected)


def change_set(status, reason=None, changes=(), execution="AVAILABLE"):
    resp = {"ChangeSetId": CS_ID, "StackId": STACK_ID, "Status": status, "ExecutionStatus": execution}
    if reason:
        resp["StatusReason"] = reason
    resp["Changes"] = [
        {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": c, "ResourceType": "X"}}
        for c in changes
    ]
    return resp


def executed(stub, execution="EXECUTE_COMPLETE"):
    """The change set's execution has finished: the stack status now is this deployment's result."""
    described = change_set("CREATE_COMPLETE", execution=execution)
    stub.add_response("describe_change_set", described, {"ChangeSetName": CS_ID})


def run(client, tag="8", **kw):
    return changeset.deploy_stack(client, STACK, tag, poll=0, sleep=lambda s: None, **kw)


def test_update_changes_only_the_image_tag(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    expected = [{"ParameterKey": k, "UsePreviousValue": True} for k in PARAMS[:-1]]
    expected.append({"ParameterKey": "ImageTag", "ParameterValue": "8"})
    expect_change_set(stub, params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_PENDING"))
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE", changes=["TaskDefinition", "Service"]))
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"))
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
    url = "http://app-123.eu-west-1.elb.amazonaws.com"
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8", {"ApplicationUrl": url}))
    executed(stub)
    result = run(client)
    assert (result.status, result.changed, result.url) == ("UPDATE_COMPLETE", True, url)
    assert f"ApplicationUrl: {url}" in caplog.text
    assert "Modify TaskDefinition" in caplog.text


def test_given_params_override_previous_values(cfn):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    expected = [
        {"ParameterKey": "VPC", "UsePreviousValue": True},
        {"ParameterKey": "SubnetA", "ParameterValue": "subnet-new"},
        {"ParameterKey": "SubnetB", "UsePreviousValue": True},
        {"ParameterKey": "ContainerName", "UsePreviousValue": True},
        {"ParameterKey": "ImageTag", "ParameterValue": "8"},
    ]
    expect_change_set(stub, params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8"))
    executed(stub)
    assert run(client, params={"SubnetA": "subnet-new"}).changed


def test_unknown_param_is_bad_input(cfn):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    with pytest.raises(ConfigError, match="--param Subnet: not a parameter"):
        run(client, params={"Subnet": "x"})


def test_empty_change_set_is_success_with_no_changes(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8", {"ApplicationUrl": "http://x"}))
    expect_change_set(stub)
    reason = "The submitted information didn't contain changes. Submit different information to create a change set."
    stub.add_response("describe_change_set", change_set("FAILED", reason))
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    result = run(client)
    assert (result.changed, result.url) == (False, "http://x")
    assert "no changes" in caplog.text


def test_empty_change_set_refused_up_front_is_success_too(cfn):
    client, stub = cfn  # moto's behaviour: CreateChangeSet itself raises
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8"))
    stub.add_client_error("create_change_set", "ValidationError", "No updates are to be performed.")
    assert run(client).changed is False


def test_failed_change_set(cfn):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    expect_change_set(stub)
    stub.add_response("describe_change_set", change_set("FAILED", "Parameter 'SubnetA' must be a subnet"))
    with pytest.raises(OperationError, match=r"change set .* failed: Parameter 'SubnetA'"):
        run(client)


def test_update_that_rolls_back_prints_the_failed_events(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    expect_change_set(stub)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_IN_PROGRESS"))
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"))
    executed(stub, "EXECUTE_FAILED")
    stub.add_response(
        "describe_stack_events",
        events(
            ("Service", "AWS::ECS::Service", "UPDATE_FAILED", "Circuit breaker: tasks failed to start"),
            ("TaskDefinition", "AWS::ECS::TaskDefinition", "UPDATE_COMPLETE", ""),
        ),
    )
    with pytest.raises(OperationError, match="ended UPDATE_ROLLBACK_COMPLETE") as info:
        run(client)
    assert "rolled back to the previous image" in (info.value.hint or "")
    assert "Service (AWS::ECS::Service): UPDATE_FAILED: Circuit breaker" in caplog.text
    assert "long ago" not in caplog.text  # events before this deploy are not this deploy's failure
    assert "TaskDefinition" not in caplog.text.split("failed stack events")[1]


def test_rollback_complete_needs_a_delete(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"))
    stub.add_response(
        "describe_stack_events",
        events(("LoadBalancer", "AWS::ElasticLoadBalancingV2::LoadBalancer", "CREATE_FAILED", "quota")),
    )
    with pytest.raises(PreconditionError, match="ROLLBACK_COMPLETE: its creation failed") as info:
        run(client)
    assert "teardown" in (info.value.hint or "")
    assert "LoadBalancer (AWS::ElasticLoadBalancingV2::LoadBalancer): CREATE_FAILED: quota" in caplog.text


def test_update_rollback_failed_names_continue_update_rollback(cfn):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_FAILED"))
    stub.add_response("describe_stack_events", events())
    with pytest.raises(PreconditionError, match="UPDATE_ROLLBACK_FAILED") as info:
        run(client)
    assert f"continue-update-rollback --stack-name {STACK}" in (info.value.hint or "")


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"])
def test_busy_stack(cfn, status):
    client, stub = cfn
    stub.add_response("describe_stacks", stack(status))
    with pytest.raises(PreconditionError, match=f"busy \\({status}\\)"):
        run(client)


def test_missing_stack_without_template(cfn):
    client, stub = cfn
    missing(stub)
    with pytest.raises(PreconditionError, match="does not exist") as info:
        run(client)
    assert "--template" in (info.value.hint or "")


def test_missing_stack_is_created_from_the_template(cfn, tmp_path):
    client, stub = cfn
    template = tmp_path / "t.yml"
    template.write_text("Parameters: {}\n")
    missing(stub)
    stub.add_response(
        "get_template_summary",
        {"Parameters": [{"ParameterKey": k} for k in ("VPC", "ImageTag", "ContainerName")]},
        {"TemplateBody": "Parameters: {}\n"},
    )
    expected = [{"ParameterKey": "VPC", "ParameterValue": "vpc-1"}, {"ParameterKey": "ImageTag", "ParameterValue": "8"}]
    expect_change_set(stub, kind="CREATE", params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("CREATE_IN_PROGRESS"))
    stub.add_response("describe_stacks", stack("CREATE_COMPLETE", "8"))
    executed(stub)
    result = run(client, template=str(template), params={"VPC": "vpc-1"})
    assert result.status == "CREATE_COMPLETE"


def test_create_that_rolls_back_is_a_failure_not_a_success(cfn, tmp_path, caplog):
    client, stub = cfn  # botocore's create waiter would call ROLLBACK_COMPLETE "complete"
    template = tmp_path / "t.yml"
    template.write_text("x")
    missing(stub)
    stub.add_response("get_template_summary", {"Parameters": [{"ParameterKey": "ImageTag"}]})
    expect_change_set(stub, kind="CREATE")
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"))
    executed(stub, "EXECUTE_FAILED")
    stub.add_response("describe_stack_events", events(("Cluster", "AWS::ECS::Cluster", "CREATE_FAILED", "denied")))
    with pytest.raises(OperationError, match="ended ROLLBACK_COMPLETE"):
        run(client, template=str(template))
    assert "Cluster (AWS::ECS::Cluster): CREATE_FAILED: denied" in caplog.text


def test_template_without_image_tag(cfn, tmp_path):
    client, stub = cfn
    template = tmp_path / "t.yml"
    template.write_text("x")
    missing(stub)
    stub.add_response("get_template_summary", {"Parameters": [{"ParameterKey": "VPC"}]})
    with pytest.raises(ConfigError, match="no ImageTag parameter"):
        run(client, template=str(template))


def test_unreadable_template(cfn, tmp_path):
    client, stub = cfn
    missing(stub)
    with pytest.raises(ConfigError, match="cannot read"):
        run(client, template=str(tmp_path / "nope.yml"))


def test_wait_times_out(cfn):
    client, stub = cfn
    clock = iter(range(0, 100000, 100))
    s = cloudformation.Stack(client, STACK, poll=0, timeout=150, sleep=lambda x: None, clock=lambda: float(next(clock)))
    for _ in range(2):
        stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"))
    with pytest.raises(OperationError, match="still UPDATE_IN_PROGRESS"):
        s.wait("test")


def test_other_client_errors_are_wrapped(cfn):
    client, stub = cfn
    stub.add_client_error("describe_stacks", "AccessDenied", "not allowed")
    with pytest.raises(OperationError, match="DescribeStacks failed: AccessDenied: not allowed"):
        run(client)


@pytest.mark.parametrize("target", ["ecs", "", "Local"])
def test_unknown_target(target):
    with pytest.raises(ConfigError, match="unknown target"):
        validate_target(target)


ECR_RESOURCES = {
    "StackResourceSummaries": [
        {
            "LogicalResourceId": "ECRRepository",
            "PhysicalResourceId": "application",
            "ResourceType": "AWS::ECR::Repository",
            "LastUpdatedTimestamp": NOW,
            "ResourceStatus": "CREATE_COMPLETE",
        }
    ]
}


def test_teardown_empties_ecr_then_deletes(cfn):
    client, stub = cfn
    ecr = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    ecr_stub = Stubber(ecr)
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    stub.add_response("list_stack_resources", ECR_RESOURCES)
    ids = [{"imageDigest": "sha256:" + "a" * 64, "imageTag": "7"}]
    ecr_stub.add_response("list_images", {"imageIds": ids}, {"repositoryName": "application"})
    ecr_stub.add_response("batch_delete_image", {"imageIds": ids}, {"repositoryName": "application", "imageIds": ids})
    stub.add_response("delete_stack", {}, {"StackName": STACK})
    stub.add_response("describe_stacks", stack("DELETE_IN_PROGRESS"))
    missing(stub)
    with ecr_stub:
        result = cloudformation.teardown_stack(client, STACK, ecr=ecr, poll=0, sleep=lambda s: None)
    assert result == {"stack": STACK, "status": "DELETE_COMPLETE", "images_deleted": 1}


def test_teardown_of_a_missing_stack(cfn):
    client, stub = cfn
    missing(stub)
    assert cloudformation.teardown_stack(client, STACK)["status"] == "absent"


@pytest.mark.parametrize(
    ("before", "after", "execution", "ok"),
    [
        ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "EXECUTE_FAILED", False),  # must not report success
        ("UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE", "EXECUTE_COMPLETE", True),  # must not report failure
    ],
)
def test_the_previous_final_status_is_not_this_deployments_result(cfn, before, after, execution, ok):
    client, stub = cfn
    stub.add_response("describe_stacks", stack(before))
    expect_change_set(stub)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack(before))  # CloudFormation has not started yet
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE", execution="AVAILABLE"))
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"))
    stub.add_response("describe_stacks", stack(after))
    executed(stub, execution)
    if ok:
        assert run(client).status == after
        return
    stub.add_response("describe_stack_events", events())
    with pytest.raises(OperationError, match=f"ended {after}"):
        run(client)


def _template(tmp_path):
    template = tmp_path / "t.yml"
    template.write_text("Parameters: {}\n")
    return str(template)


def test_first_deployment_creates_the_stack_without_an_image(cfn, tmp_path):
    client, stub = cfn
    missing(stub)
    stub.add_response(
        "get_template_summary", {"Parameters": [{"ParameterKey": k} for k in ("VPC", "ContainerName", "ImageTag")]}
    )
    expected = [
        {"ParameterKey": "VPC", "ParameterValue": "vpc-1"},
        {"ParameterKey": "ContainerName", "ParameterValue": "app"},
        {"ParameterKey": "ImageTag", "ParameterValue": ""},
    ]
    expect_change_set(stub, kind="CREATE", params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("CREATE_COMPLETE", ""))
    executed(stub)
    result = changeset.create_stack_without_image(
        client,
        STACK,
        template=_template(tmp_path),
        params={"VPC": "vpc-1"},
        defaults={"ContainerName": "app"},
        poll=0,
        sleep=lambda s: None,
    )
    assert result is not None
    assert (result.status, result.image_tag) == ("CREATE_COMPLETE", "")


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"])
def test_an_existing_stack_is_not_created_again(cfn, tmp_path, status):
    client, stub = cfn  # the deploy stage checks its state and names what to do
    stub.add_response("describe_stacks", stack(status))
    assert changeset.create_stack_without_image(client, STACK, template=_template(tmp_path)) is None


def test_an_empty_tag_is_only_for_creating(cfn, tmp_path):
    client, _ = cfn
    with pytest.raises(ConfigError, match="no image tag"):
        run(client, tag="", template=_template(tmp_path))


def test_container_name_keeps_its_previous_value_on_update(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))  # ContainerName=v
    expected = [{"ParameterKey": k, "UsePreviousValue": True} for k in PARAMS[:-1]]
    expected.append({"ParameterKey": "ImageTag", "ParameterValue": "8"})
    expect_change_set(stub, params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8"))
    executed(stub)
    run(client, defaults={"ContainerName": "application"})
    assert "keeps ContainerName=v (not application); pass --param ContainerName=application" in caplog.text


def test_teardown_when_ecr_is_unreachable_is_one_clear_error(cfn):
    import botocore.exceptions

    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    stub.add_response("list_stack_resources", ECR_RESOURCES)

    class Unreachable:
        def get_paginator(self, name):
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com/")

    with pytest.raises(OperationError, match="cannot empty ECR repository application: Could not connect") as info:
        cloudformation.teardown_stack(client, STACK, ecr=Unreachable(), poll=0, sleep=lambda s: None)
    assert "AWS_ENDPOINT_URL_ECR" in (info.value.hint or "")


def test_an_abort_during_the_change_set_wait_ends_at_once(capsys):
    """SIGTERM while the stack rolls out (polling every 5 s): the wait ends within a second, not at the next poll."""
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    for _ in range(3):
        stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"))
    waiting = cloudformation.Stack(client, STACK, poll=5.0)
    sent: list[float] = []

    def abort():
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    with stub, signals.handlers(), pytest.raises(signals.Terminated):
        threading.Thread(target=abort, daemon=True).start()
        waiting.wait("executing the change set")
    seconds = time.monotonic() - sent[0]
    with capsys.disabled():
        print(f"\nabort time, change-set wait: {seconds:.3f}s")
    assert seconds < 1


def test_the_digest_is_deployed_where_the_template_takes_one(cfn):
    client, stub = cfn
    current = stack("UPDATE_COMPLETE")
    current["Stacks"][0]["Parameters"].append({"ParameterKey": "ImageDigest", "ParameterValue": "sha256:" + "0" * 64})
    stub.add_response("describe_stacks", current)
    digest = "sha256:" + "e" * 64
    expected = [{"ParameterKey": k, "UsePreviousValue": True} for k in PARAMS[:-1]]
    expected += [
        {"ParameterKey": "ImageTag", "ParameterValue": "8"},
        {"ParameterKey": "ImageDigest", "ParameterValue": digest},
    ]
    expect_change_set(stub, params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8"))
    executed(stub)
    assert run(client, digest=digest).changed


def test_without_a_digest_the_previous_one_does_not_stick(cfn):
    client, stub = cfn
    current = stack("UPDATE_COMPLETE")
    current["Stacks"][0]["Parameters"].append({"ParameterKey": "ImageDigest", "ParameterValue": "sha256:" + "0" * 64})
    stub.add_response("describe_stacks", current)
    expected = [{"ParameterKey": k, "UsePreviousValue": True} for k in PARAMS[:-1]]
    expected += [
        {"ParameterKey": "ImageTag", "ParameterValue": "8"},
        {"ParameterKey": "ImageDigest", "ParameterValue": ""},
    ]
    expect_change_set(stub, params=expected)
    stub.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", "8"))
    executed(stub)
    assert run(client).changed
