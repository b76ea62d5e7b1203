"""After the change set executes: follow the stack and the ECS service it owns until the rollout is over.

CloudFormation's status is not the deploy's result: it can say UPDATE_COMPLETE while the ECS deployment
circuit breaker rolled the service back (aws/containers-roadmap#1369), and a task that never gets
healthy keeps it UPDATE_IN_PROGRESS for hours. So the deploy is over when the stack is final *and* the
service's PRIMARY deployment runs the stack's task definition with ``rolloutState`` COMPLETED (where ECS
gives no rolloutState: running == desired with no other deployment left). New stack and service events
are printed once each, in time order; every wait ends at one deadline and reacts to SIGTERM at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import botocore.exceptions

from .. import aws
from ..console import Progress
from ..errors import OperationError, PreconditionError
from .cloudformation import OK, Stack

log = logging.getLogger(__name__)
SERVICE = "AWS::ECS::Service"
TASK_DEFINITION = "AWS::ECS::TaskDefinition"
ECS_HINT = (
    "check network access to ECS (or AWS_ENDPOINT_URL_ECS) and the region; the credentials need ecs:DescribeServices"
)
STEP = 0.5  # the longest single sleep: a deadline or a signal is noticed within it


@dataclass
class Deadline:
    """One deadline for the whole deploy, on an injectable clock."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.start = self.clock()

    @property
    def left(self) -> float:
        return self.start + self.seconds - self.clock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    def sleep(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Sleep ``seconds`` (or until the deadline) in short steps, so SIGTERM ends the wait at once."""
        end = self.clock() + max(0.0, min(seconds, self.left))
        while (rest := end - self.clock()) > 0:
            sleep(min(STEP, rest))


@dataclass
class Rollout:
    """What the report says about one ECS service's rollout."""

    service: str
    cluster: str
    task_definition: str | None  # what the stack asks for (None: whatever the service was told)
    deployment: str | None = None
    state: str | None = None  # the PRIMARY deployment's rolloutState
    reason: str | None = None
    running: int = 0
    desired: int = 0
    pending: int = 0
    failed: int = 0
    verdict: str = "pending"  # pending | completed | failed | rolled-back

    def line(self) -> str:
        counts = f"running {self.running}/{self.desired}, pending {self.pending}, failed {self.failed}"
        state = self.state or "no rolloutState"
        reason = f": {self.reason}" if self.reason else ""
        return f"service {self.service.rsplit('/', 1)[-1]}: {state} ({counts}){reason}"


def services_of(resources: Iterable[dict[str, Any]]) -> list[Rollout]:
    """The ECS services of a stack (from ListStackResources), with the task definition the stack wants."""
    resources = list(resources)
    clusters = [str(r.get("PhysicalResourceId")) for r in resources if r.get("ResourceType") == "AWS::ECS::Cluster"]
    tasks = [str(r["PhysicalResourceId"]) for r in resources if r.get("ResourceType") == TASK_DEFINITION]
    wanted = tasks[0] if len(tasks) == 1 and tasks[0].startswith("arn:") else None
    out = []
    for res in resources:
        arn = str(res.get("PhysicalResourceId") or "")
        if res.get("ResourceType") != SERVICE or not arn:
            continue
        path = arn.split(":", 5)[-1].split("/")  # service/CLUSTER/NAME (the short form lacks the cluster)
        cluster = path[1] if len(path) == 3 else (clusters[0] if len(clusters) == 1 else "default")
        out.append(Rollout(service=arn, cluster=cluster, task_definition=wanted))
    return out


def judge(rollout: Rollout, described: dict[str, Any], stack_final: bool) -> None:
    """Update ``rollout`` from a DescribeServices entry and decide its verdict."""
    deployments = list(described.get("deployments") or [])
    wanted = rollout.task_definition or str(described.get("taskDefinition") or "")
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None) or {}
    rollout.deployment = primary.get("id")
    rollout.state = primary.get("rolloutState")
    rollout.reason = primary.get("rolloutStateReason")
    rollout.running = int(primary.get("runningCount", described.get("runningCount", 0)) or 0)
    rollout.desired = int(primary.get("desiredCount", described.get("desiredCount", 0)) or 0)
    rollout.pending = int(primary.get("pendingCount", 0) or 0)
    rollout.failed = int(primary.get("failedTasks", 0) or 0)
    ours = [d for d in deployments if d.get("taskDefinition") == wanted]
    broken = next((d for d in ours if d.get("rolloutState") == "FAILED"), None)
    if broken is not None:  # the counts and state of the deployment that failed, not of the rollback's
        rollout.verdict, rollout.deployment, rollout.state = "failed", broken.get("id"), "FAILED"
        rollout.reason = broken.get("rolloutStateReason") or rollout.reason
        rollout.running = int(broken.get("runningCount", 0) or 0)
        rollout.pending = int(broken.get("pendingCount", 0) or 0)
        rollout.failed = int(broken.get("failedTasks", 0) or 0)
    elif primary and primary.get("taskDefinition") != wanted:
        # CloudFormation has not updated the service yet, or a rollback made the old definition PRIMARY again
        rollout.verdict = "rolled-back" if stack_final else "pending"
    elif rollout.state == "COMPLETED" or (rollout.state is None and _settled(rollout, deployments)):
        rollout.verdict = "completed"
    else:
        rollout.verdict = "pending"


def _settled(rollout: Rollout, deployments: list[dict[str, Any]]) -> bool:
    """Where ECS gives no rolloutState: every task runs the new definition and no older deployment is left."""
    return len(deployments) == 1 and rollout.desired > 0 and rollout.running == rollout.desired


class Timeline:
    """New stack and service events, each printed once, in time order, as timestamped lines."""

    def __init__(self, since: dt.datetime, progress: Progress, keep: int = 12) -> None:
        self.since, self.progress = since, progress
        self.seen: set[str] = set()
        self.last: deque[str] = deque(maxlen=keep)

    def add(self, events: Iterable[tuple[str, dt.datetime, str]]) -> None:
        fresh = [(stamp, key, text) for key, stamp, text in events if key not in self.seen and stamp >= self.since]
        for stamp, key, text in sorted(fresh):
            self.seen.add(key)
            line = f"{stamp.astimezone(dt.UTC):%H:%M:%S} {text}"
            self.last.append(line)
            self.progress.line(line)


def stack_events(stack: Stack) -> list[tuple[str, dt.datetime, str]]:
    """The newest page of the stack's events as (id, time, text)."""
    out = []
    for ev in stack.events():
        reason = ev.get("ResourceStatusReason")
        text = f"stack {ev.get('LogicalResourceId')} ({ev.get('ResourceType')}): {ev.get('ResourceStatus')}"
        out.append((f"cfn:{ev['EventId']}", ev["Timestamp"], text + (f": {reason}" if reason else "")))
    return out


def describe_service(ecs: Any, rollout: Rollout) -> dict[str, Any]:
    """DescribeServices for one service; its absence (MISSING, INACTIVE) is an error naming it."""
    try:
        resp = ecs.describe_services(cluster=rollout.cluster, services=[rollout.service])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise aws.api_error("ECS DescribeServices failed", exc, network_hint=ECS_HINT) from exc
    found = resp.get("services") or []
    if not found:
        why = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in resp.get("failures") or []) or "not found"
        raise OperationError(f"ECS service {rollout.service} of the stack: {why}", hint=ECS_HINT)
    return dict(found[0])


def service_events(described: dict[str, Any]) -> list[tuple[str, dt.datetime, str]]:
    name = described.get("serviceName", "?")
    return [(f"ecs:{e['id']}", e["createdAt"], f"service {name}: {e['message']}") for e in described.get("events", [])]


@dataclass
class Follower:
    """Polls the stack, its events and its ECS services until the deploy has a verdict or the deadline."""

    stack: Stack
    ecs: Any
    deadline: Deadline
    since: dt.datetime
    progress: Progress
    poll: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    rollouts: list[Rollout] = field(default_factory=list)
    status: str = ""

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.since, self.progress)

    def report(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rollouts]

    def tick(self, change_set_id: str | None) -> tuple[dict[str, Any], bool]:
        """One poll: returns the stack's description and whether its change set has finished."""
        described = self.stack.describe() or {"StackStatus": "DELETE_COMPLETE"}
        status = str(described["StackStatus"])
        if status != self.status:
            self.progress.line(f"stack {self.stack.name}: {status}")
            self.status = status
        events = stack_events(self.stack)
        final = not status.endswith("_IN_PROGRESS") and (change_set_id is None or self.stack.executed(change_set_id))
        if not self.rollouts and status != "DELETE_COMPLETE":
            self.rollouts = services_of(self.stack.resources())
        services = [describe_service(self.ecs, rollout) for rollout in self.rollouts]
        self.timeline.add(events + [e for service in services for e in service_events(service)])
        for rollout, service in zip(self.rollouts, services, strict=True):
            before = rollout.line()
            judge(rollout, service, final and status in OK)
            if rollout.line() != before:
                self.progress.line(rollout.line())
        return described, final

    def follow(self, change_set_id: str) -> dict[str, Any]:
        """Until the stack is final and every service's rollout completed; raises on a failed rollout
        (even when the stack says COMPLETE) and :class:`Expired` at the deadline."""
        while True:
            described, final = self.tick(change_set_id)
            status = str(described["StackStatus"])
            if final and status not in OK:
                return described  # the stack failed: the caller names its failed events
            if final and not self.rollouts:
                raise PreconditionError(
                    f"stack {self.stack.name} has no ECS service (AWS::ECS::Service) to follow",
                    hint="deploy a template that runs the image as an ECS service (application_src/application.yml)",
                )
            bad = [r for r in self.rollouts if r.verdict in ("failed", "rolled-back")]
            if bad:
                raise self.failure(bad[0])
            if final and all(r.verdict == "completed" for r in self.rollouts):
                return described
            if self.deadline.left <= 0:
                raise Expired(self.pending(described))
            self.deadline.sleep(self.poll, self.sleep)

    def pending(self, described: dict[str, Any]) -> list[str]:
        status = str(described["StackStatus"])
        busy = " (still in progress)" if status.endswith("_IN_PROGRESS") else ""
        lines = [f"stack {self.stack.name}: {status}{busy}"]
        lines += [r.line() for r in self.rollouts if r.verdict == "pending"]
        return lines

    def failure(self, rollout: Rollout) -> OperationError:
        if rollout.verdict == "rolled-back":
            what = (
                f"the rollout of {rollout.task_definition} was rolled back: the service runs the previous task "
                f"definition again (deployment {rollout.deployment}, {rollout.state or 'no rolloutState'})"
            )
        else:
            what = f"the rollout failed: {rollout.reason or 'rolloutState FAILED'}"
        log.error("last events:")
        for line in self.timeline.last:
            log.error("  %s", line)
        name = rollout.service.rsplit("/", 1)[-1]
        return OperationError(
            f"deploy to stack {self.stack.name} (stack {self.status}): ECS service {name}: {what}",
            hint="read the service events above (tasks that fail to start or their health checks); fix and deploy "
            "again. The stack's status alone is not the result: the circuit breaker rolls back behind it",
        )

    def follow_rollback(self) -> dict[str, Any]:
        """After CancelUpdateStack: until the stack leaves *_IN_PROGRESS (bounded by the deadline)."""
        while True:
            described, _ = self.tick(None)
            if not str(described["StackStatus"]).endswith("_IN_PROGRESS") or self.deadline.left <= 0:
                return described
            self.deadline.sleep(self.poll, self.sleep)


class Expired(Exception):
    """The deploy deadline passed; carries the lines that say what is still pending."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__("; ".join(pending))
        self.pending = pending
