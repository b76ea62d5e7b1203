"""Deploy a pushed image through a CloudFormation change set on the ImageTag parameter.

Why change sets rather than ``aws cloudformation deploy``: the walkthrough's command re-sent the whole
template and every parameter from the Jenkins agent. Here only ``ImageTag`` changes; every other
parameter keeps its previous value (``UsePreviousValue``) and the previous template is reused unless
``--template`` is given.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import signals
from ..console import step
from ..errors import ConfigError, OperationError, PreconditionError
from . import cleanup, rollout, smoke
from .cloudformation import (
    CAPABILITIES,
    IMAGE_TAG,
    NO_CHANGES,
    OK,
    CloudFormationClient,
    NoChanges,
    Stack,
    parameters,
    precheck,
    read_template,
)
from .rollout import Deadline
from .target import DeployResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watch:
    """How a deploy waits: one deadline for all of it, what to do when it passes, and the probe after it."""

    timeout: float = 1800.0
    cancel_on_timeout: bool = False
    probe_path: str | None = "/healthz"  # None: no probe
    probe_timeout: float = 120.0
    probe_url: str | None = None  # default: the stack output ApplicationUrl
    plan: bool = False  # create the change set, print it, delete it


def deploy_stack(
    client: CloudFormationClient,
    name: str,
    tag: str,
    *,
    ecs: Any | None = None,
    watch: Watch | None = None,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    digest: str | None = None,
    poll: float = 5.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    record: dict[str, Any] | None = None,
) -> DeployResult:
    """Update stack ``name`` to run image ``tag`` (by ``digest`` when given) via a change set; create it from
    ``template`` if missing.

    With ``ecs`` the deploy follows the stack's ECS service until its rollout is over (rollout.py) and
    then probes the application; ``record`` collects what is known so far, for a report on failure.
    """
    if not tag:
        raise ConfigError("no image tag to deploy", hint="pass --tag or set CA_TAG (Jenkins sets BUILD_NUMBER)")
    watch = watch or Watch(probe_path=None)
    limit = timeout if timeout is not None else watch.timeout
    stack = Stack(client, name, poll=poll, timeout=limit, sleep=sleep, clock=clock)
    run = _Run(stack, watch, ecs, Deadline(limit, clock), sleep, {} if record is None else record)
    result = run.apply(
        tag, template=template, params=params or {}, defaults=defaults or {}, create_only=False, digest=digest
    )
    assert result is not None
    return result


def create_stack_without_image(
    client: CloudFormationClient,
    name: str,
    *,
    template: str,
    params: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    poll: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployResult | None:
    """Create stack ``name`` from ``template`` with an empty ImageTag, if it does not exist yet.

    A first deployment to ECR must push into a repository that is a resource of the stack, so the stack
    has to exist before the push. application.yml creates its task definition and service only under the
    ``HasImageTag`` condition: with an empty tag the stack holds the repository, cluster, roles and load
    balancer, and the deploy that follows the push adds the service. This is the one place an empty
    ImageTag is allowed. Returns None (and changes nothing) when the stack already exists.
    """
    stack = Stack(client, name, poll=poll, timeout=timeout, sleep=sleep)
    run = _Run(stack, Watch(timeout=timeout, probe_path=None), None, Deadline(timeout), sleep, {})
    return run.apply("", template=template, params=params or {}, defaults=defaults or {}, create_only=True)


@dataclass
class _Run:
    """One deploy: the change set, its execution, the rollout, the probe."""

    stack: Stack
    watch: Watch
    ecs: Any | None
    deadline: Deadline
    sleep: Callable[[float], None]
    record: dict[str, Any]

    def apply(
        self,
        tag: str,
        *,
        template: str | None,
        params: Mapping[str, str],
        defaults: Mapping[str, str],
        create_only: bool,
        digest: str | None = None,
    ) -> DeployResult | None:
        stack, name = self.stack, self.stack.name
        current = stack.describe()
        creating = current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS"
        if create_only and not creating:
            return None  # the deploy stage checks its state and updates it
        precheck(stack, current)
        body = read_template(template)
        if creating and not body:
            raise PreconditionError(
                f"stack {name} does not exist",
                hint="pass --template application.yml (and --param VPC=... --param SubnetA=... --param SubnetB=...) "
                "to create it",
            )
        values = parameters(stack, current, body, tag, params, defaults, digest or "")
        change_set = f"ca-{re.sub(r'[^A-Za-z0-9-]', '-', tag) or 'no-image'}-{uuid.uuid4().hex[:8]}"
        kind = "CREATE" if creating else "UPDATE"
        source: dict[str, Any] = dict(body) if body else {"UsePreviousTemplate": True}
        what = f"{IMAGE_TAG}={tag}" if tag else f"stack {name} without an image (empty {IMAGE_TAG})"
        title = f"deploy {what} to stack {name}" if tag else f"create {what}"
        if self.watch.plan:
            title = f"plan {what} on stack {name}"
        self.record.update(stack=name, change_set=change_set)
        with step(f"{title} ({kind} change set {change_set})", log) as progress:
            started = dt.datetime.now(dt.UTC)
            try:
                change_set_id = stack.create_change_set(
                    ChangeSetName=change_set,
                    ChangeSetType=kind,
                    Parameters=values,
                    Capabilities=CAPABILITIES,
                    Description=f"ca-consume-deploy: {IMAGE_TAG}={tag}",
                    **source,
                )
            except NoChanges:
                return self._unchanged(current, tag)
            executing = False
            try:
                described = stack.wait_change_set(change_set_id)
                if described["Status"] == "FAILED":
                    reason = str(described.get("StatusReason", ""))
                    if NO_CHANGES.search(reason):
                        executing = True  # (nothing to execute) deleted here, as before
                        stack.delete_change_set(change_set_id)
                        return self._unchanged(current, tag)
                    raise OperationError(
                        f"change set {change_set} for stack {name} failed: {reason}",
                        hint="fix the template or the parameters named above and rerun",
                    )
                changes = _log_changes(described, current, values)
                if self.watch.plan:
                    return self._planned(tag, change_set, changes)
                if self.ecs is not None and tag:
                    self._check_service(body)
                executing = True
                stack.execute_change_set(change_set_id)
            finally:
                if not executing:
                    self._discard(change_set_id, created=current is None)
            final = self._wait(change_set_id, started, progress, tag)
            status = str(final["StackStatus"])
            if status not in OK:
                stack.log_failed_events(since=started)
                hint = {
                    "UPDATE_ROLLBACK_COMPLETE": "the stack rolled back to the previous image; fix the cause and rerun",
                    "ROLLBACK_COMPLETE": "the stack could not be created; fix the cause above, run teardown, then "
                    "deploy",
                    "UPDATE_ROLLBACK_FAILED": f"run aws cloudformation continue-update-rollback --stack-name {name}",
                }.get(status, "see the failed events above")
                done = f"deploy of {IMAGE_TAG}={tag} to stack {name}" if tag else f"creation of stack {name}"
                raise OperationError(f"{done} ended {status}", hint=hint)
        outputs = _outputs(final)
        _log_outputs(name, outputs)
        url = outputs.get("ApplicationUrl")
        probe = self._probe(url) if tag else None
        return DeployResult(
            "cloudformation",
            tag,
            status,
            True,
            stack=name,
            change_set=change_set,
            url=url,
            outputs=outputs,
            rollout=list(self.record.get("rollout", [])),
            probe=probe,
            changes=changes,
        )

    def _discard(self, change_set_id: str, *, created: bool) -> None:
        """Delete a change set that will not be executed (a plan, a failure, an abort), and the empty
        REVIEW_IN_PROGRESS stack its creation made when there was no stack before."""
        with signals.deferred():
            try:
                self.stack.delete_change_set(change_set_id)
                if created:
                    self.stack.delete()
            except OperationError as exc:
                log.warning("could not delete change set %s: %s", change_set_id, exc.message)
                return
        if not self.watch.plan:
            cleanup.note(f"deleted the change set {self.record.get('change_set')}, which was not executed")

    def _check_service(self, body: Mapping[str, str]) -> None:
        """A deploy follows an ECS service: the template the change set applies must declare one."""
        if rollout.SERVICE in self.stack.resource_types(body):
            return
        raise PreconditionError(
            f"stack {self.stack.name} has no ECS service (AWS::ECS::Service) to deploy to; nothing was changed",
            hint="deploy with a template that runs the image as an ECS service (application_src/application.yml)",
        )

    def _wait(self, change_set_id: str, started: dt.datetime, progress: Any, tag: str) -> dict[str, Any]:
        if self.ecs is None or not tag:
            return self.stack.wait("executing the change set", done=lambda: self.stack.executed(change_set_id))
        follower = rollout.Follower(
            self.stack, self.ecs, self.deadline, started, progress, poll=self.stack.poll, sleep=self.sleep
        )
        try:
            return follower.follow(change_set_id)
        except rollout.Expired as exc:
            raise self._expired(follower, exc.pending) from None
        except (KeyboardInterrupt, signals.Terminated):  # an abort stops the wait, not CloudFormation
            log.warning(
                "the update of stack %s goes on in CloudFormation; watch it with: aws cloudformation "
                "describe-stack-events --stack-name %s (or cancel it: aws cloudformation cancel-update-stack)",
                *(self.stack.name, self.stack.name),
            )
            raise
        finally:
            self.record["rollout"] = follower.report()

    def _expired(self, follower: rollout.Follower, pending: list[str]) -> OperationError:
        """At the deadline: say what is pending and the next step; with --cancel-on-timeout cancel the update
        and follow the rollback."""
        name, seconds = self.stack.name, self.deadline.seconds
        log.error("the deploy did not finish within %gs; still pending:", seconds)
        for line in pending:
            log.error("  %s", line)
        status = follower.status
        if self.watch.cancel_on_timeout and status == "UPDATE_IN_PROGRESS":
            self.stack.cancel_update()
            log.warning("cancelled the update of stack %s (CancelUpdateStack); following the rollback", name)
            self.record["cancelled"] = True
            follower.deadline = Deadline(seconds, follower.deadline.clock)  # the rollback gets its own deadline
            final = follower.follow_rollback()
            return OperationError(
                f"deploy to stack {name} timed out after {seconds:g}s; the update was cancelled and the stack is "
                f"{final['StackStatus']}",
                hint="read the service events above for why the tasks did not become healthy; fix and deploy again",
            )
        if self.watch.cancel_on_timeout:
            log.warning("stack %s is %s: there is no update to cancel", name, status)
        next_step = (
            f"watch it (aws cloudformation describe-stacks --stack-name {name}) and rerun with a longer "
            f"--deploy-timeout, or cancel it: aws cloudformation cancel-update-stack --stack-name {name} "
            "(--cancel-on-timeout does that)"
            if status.endswith("_IN_PROGRESS")
            else "the stack is done but ECS is still rolling out: read the service events above; the circuit "
            "breaker rolls back a rollout whose tasks keep failing"
        )
        return OperationError(f"deploy to stack {name} did not finish within {seconds:g}s", hint=next_step)

    def _probe(self, url: str | None) -> dict[str, Any] | None:
        """GET the application (ApplicationUrl or --probe-url) + the smoke path until HTTP 200."""
        if self.watch.probe_path is None:
            return None
        base = self.watch.probe_url or url
        if not base:
            raise PreconditionError(
                f"stack {self.stack.name} has no ApplicationUrl output to probe",
                hint="add the output to the template, pass --probe-url, or skip the probe with --no-probe",
            )
        target = base.rstrip("/") + self.watch.probe_path
        limit = max(0.1, min(self.watch.probe_timeout, self.deadline.left))
        with step(f"probe: GET {target} until HTTP 200 (timeout {limit:g}s)", log):
            health = smoke.poll(target, limit, sleep=self.sleep, strict=False)
            probe = {"url": target, "status": health.status, "seconds": round(health.seconds, 1)}
            probe["ok"] = health.status == 200
            self.record["probe"] = probe
            if health.status != 200:
                got = f"HTTP {health.status}" if health.status else "no answer"
                raise OperationError(
                    f"probe of {target} failed: {got} after {health.seconds:.0f}s (the rollout itself completed)",
                    hint="the tasks run but the application does not answer there: check the load balancer's "
                    "listener, target group health and security groups (or skip the probe with --no-probe)",
                )
        return probe

    def _planned(self, tag: str, change_set: str, changes: list[str]) -> DeployResult:
        log.info("plan only: change set %s is deleted without being executed (%d change(s))", change_set, len(changes))
        return DeployResult(
            "cloudformation", tag, "PLANNED", False, stack=self.stack.name, change_set=change_set, changes=changes
        )

    def _unchanged(self, current: dict[str, Any] | None, tag: str) -> DeployResult:
        name = self.stack.name
        log.info("no changes: stack %s already runs %s=%s", name, IMAGE_TAG, tag)
        if self.watch.plan:
            return self._planned(tag, "", [])
        outputs = _outputs(current or {})
        _log_outputs(name, outputs)
        status = str((current or {}).get("StackStatus", ""))
        url = outputs.get("ApplicationUrl")
        probe = self._probe(url)
        return DeployResult("cloudformation", tag, status, False, stack=name, url=url, outputs=outputs, probe=probe)


def _log_changes(described: dict[str, Any], current: dict[str, Any] | None, values: list[dict[str, Any]]) -> list[str]:
    """Log (and return) what the change set does: each resource's action and replacement, then the
    stack parameters whose value changes."""
    lines = []
    for change in described.get("Changes", []):
        rc = change.get("ResourceChange", {})
        replacement = rc.get("Replacement")
        replace = f", replacement: {replacement}" if replacement else ""
        lines.append(f"{rc.get('Action', '?')} {rc.get('LogicalResourceId')} ({rc.get('ResourceType')}{replace})")
    previous = {str(p["ParameterKey"]): p.get("ParameterValue") for p in (current or {}).get("Parameters", [])}
    for value in values:
        key = str(value["ParameterKey"])
        if "ParameterValue" in value and previous.get(key) != value["ParameterValue"]:
            was = f"{previous[key]!r} -> " if key in previous else ""
            lines.append(f"parameter {key}: {was}{value['ParameterValue']!r}")
    for line in lines:
        log.info("  %s", line)
    return lines


def _outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", []) or []}


def _log_outputs(name: str, outputs: Mapping[str, str]) -> None:
    for key, value in sorted(outputs.items()):
        log.info("output %s = %s", key, value)
    if "ApplicationUrl" in outputs:
        log.info("ApplicationUrl: %s", outputs["ApplicationUrl"])
