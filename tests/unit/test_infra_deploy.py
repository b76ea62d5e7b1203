"""infra/deploy.py against a stubbed CloudFormation: what an update sends, and how a failure reads.

The happy path (create, then "no changes") runs on moto in tests/integration/test_infra_operations.py;
moto cannot roll a stack back, so the failure paths are here.
"""

from __future__ import annotations

import datetime as dt
import logging

import boto3
import pytest
from botocore.stub import ANY, Stubber
from tests import infra_iam as iam

from jenkins_codeartifact.consume.cloudformation import Stack
from jenkins_codeartifact.errors import OperationError, PreconditionError

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/jenkins-iam/0c2a9f80-1111-11ef-9d5a-0affd2a1b2c3"
CHANGE_SET = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/infra-1/5d1c6c1e-0000-4000-8000-000000000000"


def described(status: str, **extra: object) -> dict[str, object]:
    stack = {"StackName": "jenkins-iam", "StackId": STACK_ID, "CreationTime": NOW, "StackStatus": status}
    return {"Stacks": [{**stack, **extra}]}


@pytest.fixture
def cfn():
    client = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1").client(
        "cloudformation"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_an_update_sends_the_given_values_and_keeps_the_others(cfn):
    client, stub = cfn
    previous = [{"ParameterKey": k, "ParameterValue": v} for k, v in iam.PARAMS.items()]
    stub.add_response(
        "describe_stacks", described("UPDATE_COMPLETE", Parameters=previous), {"StackName": "jenkins-iam"}
    )
    expected = [
        {"ParameterKey": k, "ParameterValue": "application2"}
        if k == "ContainerName"
        else {"ParameterKey": k, "UsePreviousValue": True}
        for k in iam.PARAMS
    ]
    stub.add_response(
        "create_change_set",
        {"Id": CHANGE_SET, "StackId": STACK_ID},
        {
            "StackName": "jenkins-iam",
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "Parameters": expected,
            "Capabilities": ["CAPABILITY_IAM"],
            "Description": "infra/deploy.py jenkins-iam.yml",
            "TemplateBody": iam.JENKINS_IAM.read_text(),
        },
    )
    stub.add_response(
        "describe_change_set",
        {
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't "
            "contain changes. Submit different information to create a change set.",
        },
    )
    stub.add_response("delete_change_set", {})
    outputs = iam.deploy_script.deploy(
        Stack(client, "jenkins-iam", poll=0), str(iam.JENKINS_IAM), {"ContainerName": "application2"}
    )
    assert outputs == {}


def test_a_rolled_back_update_fails_with_the_failed_events(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", described("CREATE_COMPLETE"))
    stub.add_response("create_change_set", {"Id": CHANGE_SET, "StackId": STACK_ID})
    change = {
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": "ConsumerPolicy",
            "ResourceType": "AWS::IAM::ManagedPolicy",
        },
        "Type": "Resource",
    }
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [change]})
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", described("UPDATE_ROLLBACK_COMPLETE"))
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "ExecutionStatus": "EXECUTE_FAILED"})
    event = {
        "StackId": STACK_ID,
        "EventId": "1",
        "StackName": "jenkins-iam",
        "Timestamp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        "LogicalResourceId": "ConsumerPolicy",
        "ResourceType": "AWS::IAM::ManagedPolicy",
        "ResourceStatus": "UPDATE_FAILED",
        "ResourceStatusReason": "User is not authorized to perform: iam:CreatePolicyVersion",
    }
    stub.add_response("describe_stack_events", {"StackEvents": [event]})
    with caplog.at_level(logging.INFO), pytest.raises(OperationError) as err:
        iam.deploy_script.deploy(Stack(client, "jenkins-iam", poll=0), str(iam.JENKINS_IAM), {})
    assert err.value.message == "stack jenkins-iam ended UPDATE_ROLLBACK_COMPLETE"
    assert "Modify ConsumerPolicy (AWS::IAM::ManagedPolicy)" in caplog.text
    assert (
        "ConsumerPolicy (AWS::IAM::ManagedPolicy): UPDATE_FAILED: User is not authorized to perform: "
        "iam:CreatePolicyVersion" in caplog.text
    )


def test_a_stack_that_needs_a_human_is_refused_before_any_change_set(cfn, caplog):
    client, stub = cfn
    stub.add_response("describe_stacks", described("UPDATE_ROLLBACK_FAILED"))
    stub.add_response("describe_stack_events", {"StackEvents": []})
    with pytest.raises(PreconditionError) as err:
        iam.deploy_script.deploy(Stack(client, "jenkins-iam", poll=0), str(iam.JENKINS_IAM), {})
    assert "continue-update-rollback --stack-name jenkins-iam" in (err.value.hint or "")


def test_bad_input_is_one_line_and_exit_2_before_credentials(capsys, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    cases = {
        ("jenkins-iam", str(iam.JENKINS_IAM), "RepositoryName=-team"): "ERROR: Parameter 'RepositoryName' failed "
        "to satisfy constraint: must be 2-100 characters: letters, digits, '.', '_' and '-', starting with a "
        "letter or digit (CodeArtifact's rule for repository names)",
        ("jenkins-iam", str(iam.JENKINS_IAM), "DomainOwner"): "ERROR: 'DomainOwner': expected KEY=VALUE",
        ("1stack", str(iam.JENKINS_IAM)): "ERROR: stack name '1stack': letters, digits and '-', starting with a letter",
    }
    for argv, first in cases.items():
        assert iam.deploy_script.main(list(argv)) == 2, argv
        err = capsys.readouterr().err
        assert err.splitlines()[0] == first
        assert "Traceback" not in err
