"""The deploy follows the ECS rollout behind the stack: botocore's Stubber with response shapes from the ECS
(DescribeServices: deployments with rolloutState, events) and CloudFormation API references; moto models
no rollout. A fake clock makes the deadline exact; the log is what a Jenkins console shows."""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import os
import signal
import threading
import time

import boto3
import pytest
from botocore.stub import Stubber

from jenkins_codeartifact import signals
from jenkins_codeartifact.cli import consume_deploy
from jenkins_codeartifact.consume import changeset
from jenkins_codeartifact.errors import OperationError, PreconditionError

from .test_cloudformation import CS_ID, STACK, STACK_ID, change_set, expect_change_set, stack

ACCOUNT = "arn:aws:ecs:eu-west-1:123456789012"
CLUSTER = "consumer-Cluster-1ABC"
SERVICE_ARN = f"{ACCOUNT}:service/{CLUSTER}/app"
TD7, TD8 = f"{ACCOUNT}:task-definition/appTaskDefinition:7", f"{ACCOUNT}:task-definition/appTaskDefinition:8"
_T0 = [dt.datetime.now(dt.UTC)]


@pytest.fixture(autouse=True)
def _events_after_the_deploy_starts():
    """Event times 10 minutes after each test starts, so the deploy under test sees them as new however
    long after this module was imported the test runs (a whole suite takes longer than any fixed margin)."""
    _T0[0] = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)


def at(seconds: int) -> dt.datetime:
    return _T0[0] + dt.timedelta(seconds=seconds)


class Clock:
    """Time that passes only when the code sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clients():
    kw = {"region_name": "eu-west-1", "aws_access_key_id": "a", "aws_secret_access_key": "b"}
    cfn, ecs = boto3.client("cloudformation", **kw), boto3.client("ecs", **kw)
    with Stubber(cfn) as cs, Stubber(ecs) as es:
        yield cfn, cs, ecs, es
        cs.assert_no_pending_responses()
        es.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def _info(caplog):
    caplog.set_level(logging.INFO, logger="jenkins_codeartifact")


def deployment(dep_id, td, status="PRIMARY", state="IN_PROGRESS", running=0, pending=1, failed=0, reason=None):
    d = {
        "id": dep_id,
        "status": status,
        "taskDefinition": td,
        "desiredCount": 1,
        "pendingCount": pending,
        "runningCount": running,
        "failedTasks": failed,
        "createdAt": at(0),
        "updatedAt": at(1),
        "launchType": "FARGATE",
    }
    if state:
        d["rolloutState"] = state
        d["rolloutStateReason"] = reason or f"ECS deployment {dep_id} {state.lower().replace('_', ' ')}."
    return d


def service(deployments, events=(), td=TD8):
    return {
        "services": [
            {
                "serviceArn": SERVICE_ARN,
                "serviceName": "app",
                "clusterArn": f"{ACCOUNT}:cluster/{CLUSTER}",
                "status": "ACTIVE",
                "taskDefinition": td,
                "desiredCount": 1,
                "runningCount": sum(d["runningCount"] for d in deployments),
                "pendingCount": sum(d["pendingCount"] for d in deployments),
                "deployments": deployments,
                # newest first, as ECS lists them
                "events": [{"id": f"ev{i}", "createdAt": at(i), "message": m} for i, m in reversed(events)],
            }
        ],
        "failures": [],
    }


def stack_events(*items):
    """Newest first, like DescribeStackEvents."""
    evs = [
        {
            "StackId": STACK_ID,
            "EventId": f"cfn{i}",
            "StackName": STACK,
            "LogicalResourceId": logical,
            "ResourceType": "AWS::ECS::Service" if logical == "Service" else "AWS::CloudFormation::Stack",
            "Timestamp": at(i),
            "ResourceStatus": status,
        }
        for i, logical, status in items
    ]
    return {"StackEvents": list(reversed(evs))}


RESOURCES = {
    "StackResourceSummaries": [
        {
            "LogicalResourceId": logical,
            "PhysicalResourceId": physical,
            "ResourceType": rtype,
            "LastUpdatedTimestamp": at(0),
            "ResourceStatus": "UPDATE_COMPLETE",
        }
        for logical, physical, rtype in (
            ("Cluster", CLUSTER, "AWS::ECS::Cluster"),
            ("TaskDefinition", TD8, "AWS::ECS::TaskDefinition"),
            ("Service", SERVICE_ARN, "AWS::ECS::Service"),
        )
    ]
}


def start(cs, types=("AWS::ECS::Service",)):
    """Up to ExecuteChangeSet: an update of ImageTag 7 -> 8 on a stack that runs an ECS service."""
    cs.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    expect_change_set(cs)
    cs.add_response("describe_change_set", change_set("CREATE_COMPLETE", changes=["TaskDefinition", "Service"]))
    cs.add_response("get_template_summary", {"ResourceTypes": list(types)}, {"StackName": STACK})


def tick(cs, es, status, events, svc, *, first=False, executed=None):
    cs.add_response("describe_stacks", stack(status, "8", {"ApplicationUrl": "http://app.example"}))
    cs.add_response("describe_stack_events", events, {"StackName": STACK})
    if executed:
        cs.add_response("describe_change_set", change_set("CREATE_COMPLETE", execution=executed))
    if first:
        cs.add_response("list_stack_resources", RESOURCES, {"StackName": STACK})
    es.add_response("describe_services", svc, {"cluster": CLUSTER, "services": [SERVICE_ARN]})


def deploy(cfn, ecs, clock=None, record=None, **watch):
    clock = clock or Clock()
    options = {"timeout": 600.0, "probe_path": None, **watch}
    return changeset.deploy_stack(
        cfn,
        STACK,
        "8",
        ecs=ecs,
        watch=changeset.Watch(**options),
        poll=5,
        sleep=clock.sleep,
        clock=clock,
        record=record,
    )


def console(caplog):
    return [r.getMessage() for r in caplog.records]


def test_rollout_completed_streams_each_event_once_in_order(clients, caplog):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    old = deployment("ecs-svc/7", TD7, status="ACTIVE", state="COMPLETED", running=1, pending=0)
    new = deployment("ecs-svc/8", TD8)
    e1 = [(1, "(service app) has started 1 tasks: (task 8a).")]
    tick(
        cs,
        es,
        "UPDATE_IN_PROGRESS",
        stack_events((0, STACK, "UPDATE_IN_PROGRESS")),
        service([new, old], e1),
        first=True,
    )
    e2 = [
        *e1,
        (3, "(service app) registered 1 targets in (target-group tg)."),
        (5, "(service app) has stopped 1 running tasks: (task 7a)."),
    ]
    done = deployment("ecs-svc/8", TD8, state="COMPLETED", running=1, pending=0)
    e3 = [*e2, (6, "(service app) has reached a steady state.")]
    tick(
        cs,
        es,
        "UPDATE_IN_PROGRESS",
        stack_events((0, STACK, "UPDATE_IN_PROGRESS"), (2, "Service", "UPDATE_IN_PROGRESS")),
        service([new, old], e2),
    )
    finished = stack_events(
        (0, STACK, "UPDATE_IN_PROGRESS"), (2, "Service", "UPDATE_IN_PROGRESS"), (7, STACK, "UPDATE_COMPLETE")
    )
    tick(cs, es, "UPDATE_COMPLETE", finished, service([done], e3), executed="EXECUTE_COMPLETE")
    record: dict = {}
    result = deploy(cfn, ecs, record=record)
    assert (result.status, result.changed) == ("UPDATE_COMPLETE", True)
    assert result.rollout[0]["state"] == "COMPLETED" and result.rollout[0]["verdict"] == "completed"
    assert (result.rollout[0]["running"], result.rollout[0]["desired"]) == (1, 1)
    lines = [m.split("] ", 1)[-1] for m in console(caplog) if "] " in m]
    timeline = [line[9:] for line in lines if line[:2].isdigit()]
    assert timeline == [
        f"stack {STACK} (AWS::CloudFormation::Stack): UPDATE_IN_PROGRESS",
        "service app: (service app) has started 1 tasks: (task 8a).",
        "stack Service (AWS::ECS::Service): UPDATE_IN_PROGRESS",
        "service app: (service app) registered 1 targets in (target-group tg).",
        "service app: (service app) has stopped 1 running tasks: (task 7a).",
        "service app: (service app) has reached a steady state.",
        f"stack {STACK} (AWS::CloudFormation::Stack): UPDATE_COMPLETE",
    ]
    assert "service app: COMPLETED (running 1/1, pending 0, failed 0): ECS deployment ecs-svc/8 completed." in lines


def test_circuit_breaker_rollback_fails_even_though_the_stack_is_complete(clients, caplog):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    reason = "ECS deployment circuit breaker: tasks failed to start."
    failed = deployment("ecs-svc/8", TD8, status="ACTIVE", state="FAILED", failed=3, pending=0, reason=reason)
    back = deployment("ecs-svc/9", TD7, state="COMPLETED", running=1, pending=0)
    events = [
        (1, "(service app) has started 1 tasks: (task 8a)."),
        (2, "(service app) deployment ecs-svc/8 deployment failed: tasks failed to start."),
        (3, "(service app) rolling back to deployment ecs-svc/9."),
    ]
    done = stack_events((0, STACK, "UPDATE_IN_PROGRESS"), (4, STACK, "UPDATE_COMPLETE"))
    tick(
        cs,
        es,
        "UPDATE_COMPLETE",
        done,
        service([back, failed], events, td=TD7),
        first=True,
        executed="EXECUTE_COMPLETE",
    )
    record: dict = {}
    with pytest.raises(OperationError) as err:
        deploy(cfn, ecs, record=record)
    assert err.value.message == (
        f"deploy to stack {STACK} (stack UPDATE_COMPLETE): ECS service app: the rollout failed: {reason}"
    )
    text = "\n".join(console(caplog))
    assert "last events:" in text and "rolling back to deployment ecs-svc/9" in text.split("last events:")[1]
    assert record["rollout"][0]["verdict"] == "failed" and record["rollout"][0]["failed"] == 3
    assert (record["rollout"][0]["deployment"], record["rollout"][0]["state"]) == ("ecs-svc/8", "FAILED")
    assert f"service app: FAILED (running 0/1, pending 0, failed 3): {reason}" in text


def test_rollback_without_a_failed_deployment_left_is_still_a_failure(clients):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    back = deployment("ecs-svc/9", TD7, state="COMPLETED", running=1, pending=0)  # the failed one is INACTIVE now
    tick(cs, es, "UPDATE_COMPLETE", stack_events(), service([back], td=TD7), first=True, executed="EXECUTE_COMPLETE")
    with pytest.raises(OperationError, match="was rolled back: the service runs the previous task definition"):
        deploy(cfn, ecs)


def stuck(cs, es, polls):
    pending = service(
        [deployment("ecs-svc/8", TD8, failed=2), deployment("ecs-svc/7", TD7, "ACTIVE", "COMPLETED", 1, 0)]
    )
    for i in range(polls):
        tick(cs, es, "UPDATE_IN_PROGRESS", stack_events((0, STACK, "UPDATE_IN_PROGRESS")), pending, first=i == 0)


def test_stuck_until_the_deadline_says_what_is_pending_and_the_next_step(clients, caplog):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    stuck(cs, es, 7)  # polls at 0, 5, ..., 30 s of a 30 s deadline
    clock = Clock()
    with pytest.raises(OperationError) as err:
        deploy(cfn, ecs, clock=clock, timeout=30.0)
    assert err.value.message == f"deploy to stack {STACK} did not finish within 30s"
    assert f"aws cloudformation cancel-update-stack --stack-name {STACK}" in err.value.hint
    assert "--cancel-on-timeout" in err.value.hint
    text = "\n".join(console(caplog))
    assert f"stack {STACK}: UPDATE_IN_PROGRESS (still in progress)" in text
    assert "service app: IN_PROGRESS (running 0/1, pending 1, failed 2)" in text
    assert clock.now == 30.0


def test_stuck_with_cancel_on_timeout_cancels_and_follows_the_rollback(clients, caplog):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    stuck(cs, es, 3)
    cs.add_response("cancel_update_stack", {}, {"StackName": STACK})
    back = service([deployment("ecs-svc/9", TD7, state="COMPLETED", running=1, pending=0)], td=TD7)
    rolling = stack_events((0, STACK, "UPDATE_IN_PROGRESS"), (12, STACK, "UPDATE_ROLLBACK_IN_PROGRESS"))
    tick(cs, es, "UPDATE_ROLLBACK_IN_PROGRESS", rolling, back)
    done = stack_events(
        (0, STACK, "UPDATE_IN_PROGRESS"),
        (12, STACK, "UPDATE_ROLLBACK_IN_PROGRESS"),
        (20, STACK, "UPDATE_ROLLBACK_COMPLETE"),
    )
    tick(cs, es, "UPDATE_ROLLBACK_COMPLETE", done, back)
    record: dict = {}
    with pytest.raises(OperationError) as err:
        deploy(cfn, ecs, timeout=10.0, cancel_on_timeout=True, record=record)
    assert err.value.message == (
        f"deploy to stack {STACK} timed out after 10s; the update was cancelled and the stack is "
        "UPDATE_ROLLBACK_COMPLETE"
    )
    assert record["cancelled"] is True
    assert "cancelled the update of stack consumer (CancelUpdateStack)" in "\n".join(console(caplog))


def test_a_stack_without_an_ecs_service_is_refused_before_anything_changes(clients):
    cfn, cs, ecs, _ = clients
    start(cs, types=("AWS::Lambda::Function",))
    cs.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    with pytest.raises(PreconditionError) as err:
        deploy(cfn, ecs)
    assert (
        err.value.message == f"stack {STACK} has no ECS service (AWS::ECS::Service) to deploy to; nothing was changed"
    )
    assert err.value.exit_code == 3


def test_plan_prints_the_changes_and_deletes_the_change_set(clients, caplog):
    cfn, cs, ecs, _ = clients
    cs.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
    expect_change_set(cs)
    described = change_set("CREATE_COMPLETE")
    described["Changes"] = [
        {
            "Type": "Resource",
            "ResourceChange": {"Action": "Modify", "LogicalResourceId": lid, "ResourceType": rt, "Replacement": rep},
        }
        for lid, rt, rep in (
            ("TaskDefinition", "AWS::ECS::TaskDefinition", "True"),
            ("Service", "AWS::ECS::Service", "False"),
        )
    ]
    cs.add_response("describe_change_set", described)
    cs.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    result = deploy(cfn, ecs, plan=True)
    assert result.status == "PLANNED" and not result.changed
    assert result.changes == [
        "Modify TaskDefinition (AWS::ECS::TaskDefinition, replacement: True)",
        "Modify Service (AWS::ECS::Service, replacement: False)",
        "parameter ImageTag: '7' -> '8'",
    ]


class _Ok(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):
        type(self).calls += 1
        self.send_response(200 if self.path == "/healthz" and type(self).calls > 1 else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_probe_gets_the_application_until_200_and_is_in_the_result(clients):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    done = service([deployment("ecs-svc/8", TD8, state="COMPLETED", running=1, pending=0)])
    tick(cs, es, "UPDATE_COMPLETE", stack_events(), done, first=True, executed="EXECUTE_COMPLETE")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = deploy(cfn, ecs, probe_path="/healthz", probe_url=url, probe_timeout=10.0)
    finally:
        server.shutdown()
        server.server_close()
    assert result.probe is not None
    assert (result.probe["url"], result.probe["status"], result.probe["ok"]) == (f"{url}/healthz", 200, True)
    assert _Ok.calls == 2


def test_a_failed_probe_is_exit_1_and_reported(clients):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    done = service([deployment("ecs-svc/8", TD8, state="COMPLETED", running=1, pending=0)])
    tick(cs, es, "UPDATE_COMPLETE", stack_events(), done, first=True, executed="EXECUTE_COMPLETE")
    record: dict = {}
    with pytest.raises(OperationError, match=r"probe of http://127\.0\.0\.1:9/healthz failed: no answer"):
        deploy(cfn, ecs, probe_path="/healthz", probe_url="http://127.0.0.1:9", probe_timeout=1.0, record=record)
    assert record["probe"]["ok"] is False and record["rollout"][0]["verdict"] == "completed"


def test_sigterm_ends_the_wait_at_once(clients, caplog):
    cfn, cs, ecs, es = clients
    start(cs)
    cs.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    stuck(cs, es, 1)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    began = time.monotonic()
    with signals.handlers(), pytest.raises(signals.Terminated):
        timer.start()
        changeset.deploy_stack(cfn, STACK, "8", ecs=ecs, watch=changeset.Watch(probe_path=None), poll=60)
    assert time.monotonic() - began < 2.0  # a 60 s poll interval, ended by the signal
    assert f"the update of stack {STACK} goes on in CloudFormation" in caplog.text


@pytest.mark.parametrize(
    ("flag", "value"), [("--deploy-timeout", "0"), ("--deploy-timeout", "-5"), ("--probe-timeout", "0")]
)
def test_a_timeout_that_is_not_positive_is_one_line_and_exit_2(flag, value, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code = consume_deploy.main(["deploy", "--stack", STACK, "--tag", "8", flag, value])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == f"ERROR: {flag} {float(value):g}: must be more than 0 seconds"
    assert "Traceback" not in err and len(err.splitlines()) == 1
