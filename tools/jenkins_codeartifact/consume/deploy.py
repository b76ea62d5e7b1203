"""Deploy a pushed image: a CloudFormation change set on the ImageTag parameter, or a local container.

Why change sets rather than ``aws cloudformation deploy``: the walkthrough's command re-sent the whole
template and every parameter from the Jenkins agent. Here only ``ImageTag`` changes; every other
parameter keeps its previous value (``UsePreviousValue``) and the previous template is reused unless
``--template`` is given. The stack's state is checked before and after, because botocore's waiters count
rollback states as "complete" and because a stack stuck in ``ROLLBACK_COMPLETE`` or
``UPDATE_ROLLBACK_FAILED`` needs a human step that the message must name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import botocore.exceptions
import docker.errors
import requests

from ..console import step
from ..errors import ConfigError, OperationError, PreconditionError
from . import image as img

log = logging.getLogger(__name__)

TARGETS = ("cloudformation", "local")
IMAGE_TAG = "ImageTag"
CONTAINER_NAME = "ContainerName"  # application.yml names the ECR repository after it
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
_NO_CHANGES = re.compile(r"didn't contain changes|No updates are to be performed|no changes", re.IGNORECASE)
_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
_NEEDS_DELETE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_COMPLETE"}


def validate_target(target: str) -> str:
    if target not in TARGETS:
        raise ConfigError(f"--target {target!r}: unknown target", hint=f"choose one of: {', '.join(TARGETS)}")
    return target


class _CloudFormation(Protocol):  # the calls we make; tests pass Stubber-wrapped clients
    def describe_stacks(self, **kw: Any) -> dict[str, Any]: ...
    def get_template_summary(self, **kw: Any) -> dict[str, Any]: ...
    def create_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def describe_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def delete_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def execute_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def describe_stack_events(self, **kw: Any) -> dict[str, Any]: ...
    def list_stack_resources(self, **kw: Any) -> dict[str, Any]: ...
    def delete_stack(self, **kw: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DeployResult:
    target: str
    image_tag: str
    status: str
    changed: bool
    stack: str | None = None
    change_set: str | None = None
    url: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)


def _error(what: str, exc: Exception) -> OperationError:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return OperationError(f"CloudFormation {what} failed: {err.get('Code', 'Error')}: {err.get('Message', exc)}")
    return OperationError(
        f"CloudFormation {what} failed: {exc}",
        hint="check network access to CloudFormation (or AWS_ENDPOINT_URL_CLOUDFORMATION) and the region",
    )


@dataclass
class Stack:
    """One CloudFormation stack, reached through a narrow client; polls with an injectable clock."""

    client: _CloudFormation
    name: str
    poll: float = 5.0
    timeout: float = 3600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def _call(self, what: str, fn: Callable[..., dict[str, Any]], **kw: Any) -> dict[str, Any]:
        try:
            return fn(**kw)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _error(what, exc) from exc

    def describe(self) -> dict[str, Any] | None:
        """The stack, or None when it does not exist (CloudFormation says so with a ValidationError)."""
        try:
            stacks = self.client.describe_stacks(StackName=self.name)["Stacks"]
        except botocore.exceptions.ClientError as exc:
            if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
                return None
            raise _error("DescribeStacks", exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise _error("DescribeStacks", exc) from exc
        return dict(stacks[0]) if stacks else None

    def failed_events(self, since: dt.datetime | None = None) -> list[str]:
        """One line per failed resource event (newest first), since ``since`` when given."""
        try:
            events = self.client.describe_stack_events(StackName=self.name).get("StackEvents", [])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            return [f"(cannot read the stack events: {exc})"]
        lines = []
        for ev in events:
            status = str(ev.get("ResourceStatus", ""))
            stamp = ev.get("Timestamp")
            if since and isinstance(stamp, dt.datetime) and stamp < since:
                break
            if status.endswith("_FAILED"):
                reason = ev.get("ResourceStatusReason", "")
                where = f"{ev.get('LogicalResourceId')} ({ev.get('ResourceType')})"
                lines.append(f"{where}: {status}: {reason}" if reason else f"{where}: {status}")
        return lines

    def log_failed_events(self, since: dt.datetime | None = None) -> list[str]:
        lines = self.failed_events(since)
        if lines:
            log.error("failed stack events of %s (newest first):", self.name)
            for line in lines:
                log.error("  %s", line)
        return lines

    def wait(self, what: str, done: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Poll until the stack leaves every ``*_IN_PROGRESS`` state; returns its final description.

        ``done`` is asked once the status looks final: right after ExecuteChangeSet the stack may still
        show the previous operation's final status, which is not this operation's result.
        """
        start = self.clock()
        last = ""
        while True:
            stack = self.describe()
            if stack is None:
                return {"StackStatus": "DELETE_COMPLETE"}
            status = str(stack["StackStatus"])
            if status != last:
                log.info("stack %s: %s", self.name, status)
                last = status
            if not status.endswith("_IN_PROGRESS") and (done is None or done()):
                return stack
            if self.clock() - start > self.timeout:
                raise OperationError(
                    f"stack {self.name} still {status} after {self.timeout:.0f}s ({what})",
                    hint="watch it in the CloudFormation console; rerun the deploy once it settles",
                )
            self.sleep(self.poll)


def _precheck(stack: Stack, current: dict[str, Any] | None) -> None:
    """Refuse states a change set cannot be applied to, naming the step that unblocks each."""
    if current is None:
        return
    status = str(current["StackStatus"])
    if status == "REVIEW_IN_PROGRESS":
        return  # created by a change set that was never executed: a CREATE change set is still allowed
    if status.endswith("_IN_PROGRESS"):
        raise PreconditionError(
            f"stack {stack.name} is busy ({status})",
            hint="another deployment is running; wait for it to finish (or cancel it) and rerun",
        )
    if status in _NEEDS_DELETE:
        stack.log_failed_events()
        raise PreconditionError(
            f"stack {stack.name} is {status}: its creation failed and it cannot be updated",
            hint="read the failed events above, fix the cause, delete the stack (ca-consume-deploy teardown) and "
            "deploy again with --template",
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        stack.log_failed_events()
        raise PreconditionError(
            f"stack {stack.name} is UPDATE_ROLLBACK_FAILED",
            hint=f"fix the resources named above, then run: aws cloudformation continue-update-rollback "
            f"--stack-name {stack.name}; deploy again once it is UPDATE_ROLLBACK_COMPLETE",
        )


def _template_args(template: str | None) -> dict[str, str]:
    if template is None:
        return {}
    path = Path(template)
    try:
        body = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--template {template}: cannot read: {exc.strerror}") from exc
    if len(body.encode()) > 51200:
        raise ConfigError(f"--template {template}: over CloudFormation's 51,200-byte inline limit")
    return {"TemplateBody": body}


def _parameters(
    stack: Stack,
    current: dict[str, Any] | None,
    template: dict[str, str],
    tag: str,
    params: Mapping[str, str],
    defaults: Mapping[str, str],
) -> list[dict[str, Any]]:
    """ImageTag and the given values; every other parameter of an existing stack keeps its value.

    ``defaults`` fill parameters the user did not give where there is no previous value (a new stack):
    ContainerName defaults to the image name, because application.yml names the ECR repository (and so
    the image its task definition runs) after it.
    """
    known: list[str]
    if template:
        summary = stack._call("GetTemplateSummary", stack.client.get_template_summary, **template)
        known = [str(p["ParameterKey"]) for p in summary.get("Parameters", [])]
    else:
        known = [str(p["ParameterKey"]) for p in (current or {}).get("Parameters", [])]
    if IMAGE_TAG not in known:
        raise ConfigError(
            f"stack {stack.name}: the template has no {IMAGE_TAG} parameter",
            hint="use the application.yml of application_src/, or a template that takes ImageTag",
        )
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(
            f"--param {', '.join(unknown)}: not a parameter of the template",
            hint="known: " + ", ".join(known),
        )
    creating = current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS"
    previous = {str(p["ParameterKey"]): p.get("ParameterValue") for p in (current or {}).get("Parameters", [])}
    out: list[dict[str, Any]] = []
    for key in known:
        if key == IMAGE_TAG:
            out.append({"ParameterKey": key, "ParameterValue": tag})
        elif key in params:
            out.append({"ParameterKey": key, "ParameterValue": params[key]})
        elif key in previous and not creating:
            out.append({"ParameterKey": key, "UsePreviousValue": True})
            if key in defaults and previous[key] is not None and previous[key] != defaults[key]:
                log.warning(
                    "stack %s keeps %s=%s (not %s); pass --param %s=%s to change it",
                    stack.name,
                    key,
                    previous[key],
                    defaults[key],
                    key,
                    defaults[key],
                )
        elif key in defaults:
            out.append({"ParameterKey": key, "ParameterValue": defaults[key]})
        # else: the template's default applies (or CloudFormation names the missing value)
    return out


def deploy_stack(
    client: _CloudFormation,
    name: str,
    tag: str,
    *,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    poll: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployResult:
    """Update stack ``name`` to run image ``tag`` via a change set; create it from ``template`` if missing."""
    if not tag:
        raise ConfigError("no image tag to deploy", hint="pass --tag or set CA_TAG (Jenkins sets BUILD_NUMBER)")
    stack = Stack(client, name, poll=poll, timeout=timeout, sleep=sleep)
    result = _apply(stack, tag, template=template, params=params or {}, defaults=defaults or {}, create_only=False)
    assert result is not None
    return result


def create_stack_without_image(
    client: _CloudFormation,
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
    return _apply(stack, "", template=template, params=params or {}, defaults=defaults or {}, create_only=True)


def _apply(
    stack: Stack,
    tag: str,
    *,
    template: str | None,
    params: Mapping[str, str],
    defaults: Mapping[str, str],
    create_only: bool,
) -> DeployResult | None:
    client, name = stack.client, stack.name
    current = stack.describe()
    creating = current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS"
    if create_only and not creating:
        return None  # the deploy stage checks its state and updates it
    _precheck(stack, current)
    body = _template_args(template)
    if creating and not body:
        raise PreconditionError(
            f"stack {name} does not exist",
            hint="pass --template application.yml (and --param VPC=... --param SubnetA=... --param SubnetB=...) "
            "to create it",
        )
    parameters = _parameters(stack, current, body, tag, params, defaults)
    change_set = f"ca-{re.sub(r'[^A-Za-z0-9-]', '-', tag) or 'no-image'}-{uuid.uuid4().hex[:8]}"
    kind = "CREATE" if creating else "UPDATE"
    source: dict[str, Any] = dict(body) if body else {"UsePreviousTemplate": True}
    what = f"{IMAGE_TAG}={tag}" if tag else f"stack {name} without an image (empty {IMAGE_TAG})"
    title = f"deploy {what} to stack {name}" if tag else f"create {what}"
    with step(f"{title} ({kind} change set {change_set})", log):
        started = dt.datetime.now(dt.UTC)
        try:
            resp = client.create_change_set(
                StackName=name,
                ChangeSetName=change_set,
                ChangeSetType=kind,
                Parameters=parameters,
                Capabilities=CAPABILITIES,
                Description=f"ca-consume-deploy: {IMAGE_TAG}={tag}",
                **source,
            )
        except botocore.exceptions.ClientError as exc:
            if _NO_CHANGES.search(str(exc.response.get("Error", {}).get("Message", ""))):
                return _unchanged(stack, current, tag)
            raise _error("CreateChangeSet", exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise _error("CreateChangeSet", exc) from exc
        change_set_id = str(resp["Id"])
        described = _wait_change_set(stack, change_set_id)
        if described["Status"] == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if _NO_CHANGES.search(reason):
                stack._call("DeleteChangeSet", client.delete_change_set, ChangeSetName=change_set_id)
                return _unchanged(stack, current, tag)
            raise OperationError(
                f"change set {change_set} for stack {name} failed: {reason}",
                hint="fix the template or the parameters named above and rerun",
            )
        _log_changes(described)
        stack._call("ExecuteChangeSet", client.execute_change_set, ChangeSetName=change_set_id)
        final = stack.wait("executing the change set", done=lambda: _executed(stack, change_set_id))
        status = str(final["StackStatus"])
        if status not in _OK:
            stack.log_failed_events(since=started)
            hint = {
                "UPDATE_ROLLBACK_COMPLETE": "the stack rolled back to the previous image; fix the cause and rerun",
                "ROLLBACK_COMPLETE": "the stack could not be created; fix the cause above, run teardown, then deploy",
                "UPDATE_ROLLBACK_FAILED": f"run aws cloudformation continue-update-rollback --stack-name {name}",
            }.get(status, "see the failed events above")
            done = f"deploy of {IMAGE_TAG}={tag} to stack {name}" if tag else f"creation of stack {name}"
            raise OperationError(f"{done} ended {status}", hint=hint)
    outputs = _outputs(final)
    _log_outputs(name, outputs)
    return DeployResult(
        target="cloudformation",
        image_tag=tag,
        status=status,
        changed=True,
        stack=name,
        change_set=change_set,
        url=outputs.get("ApplicationUrl"),
        outputs=outputs,
    )


_EXECUTED = {"EXECUTE_COMPLETE", "EXECUTE_FAILED", "OBSOLETE"}


def _executed(stack: Stack, change_set_id: str) -> bool:
    """Whether CloudFormation has finished executing the change set (so the stack status is its result)."""
    try:
        described = stack.client.describe_change_set(ChangeSetName=change_set_id)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ChangeSetNotFound":
            return True  # gone (the stack was deleted by a failed create): the stack status is all there is
        raise _error("DescribeChangeSet", exc) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise _error("DescribeChangeSet", exc) from exc
    execution = str(described.get("ExecutionStatus", ""))
    if execution not in _EXECUTED:
        log.debug("change set %s: %s, the stack status is not its result yet", change_set_id, execution)
    return execution in _EXECUTED


def _wait_change_set(stack: Stack, change_set_id: str) -> dict[str, Any]:
    start = stack.clock()
    while True:
        described = stack._call("DescribeChangeSet", stack.client.describe_change_set, ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"):
            return described
        if stack.clock() - start > stack.timeout:
            raise OperationError(f"change set for {stack.name} still {described['Status']} after {stack.timeout:.0f}s")
        stack.sleep(stack.poll)


def _log_changes(described: dict[str, Any]) -> None:
    for change in described.get("Changes", []):
        rc = change.get("ResourceChange", {})
        replace = " (replacement)" if rc.get("Replacement") == "True" else ""
        log.info("  %s %s (%s)%s", rc.get("Action", "?"), rc.get("LogicalResourceId"), rc.get("ResourceType"), replace)


def _unchanged(stack: Stack, current: dict[str, Any] | None, tag: str) -> DeployResult:
    log.info("no changes: stack %s already runs %s=%s", stack.name, IMAGE_TAG, tag)
    outputs = _outputs(current or {})
    _log_outputs(stack.name, outputs)
    return DeployResult(
        target="cloudformation",
        image_tag=tag,
        status=str((current or {}).get("StackStatus", "")),
        changed=False,
        stack=stack.name,
        url=outputs.get("ApplicationUrl"),
        outputs=outputs,
    )


def _outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", []) or []}


def _log_outputs(name: str, outputs: Mapping[str, str]) -> None:
    for key, value in sorted(outputs.items()):
        log.info("output %s = %s", key, value)
    if "ApplicationUrl" in outputs:
        log.info("ApplicationUrl: %s", outputs["ApplicationUrl"])


def teardown_stack(
    client: _CloudFormation,
    name: str,
    *,
    ecr: Any | None = None,
    poll: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The walkthrough's clean-up: empty the stack's ECR repository (CloudFormation cannot), delete the stack."""
    stack = Stack(client, name, poll=poll, timeout=timeout, sleep=sleep)
    current = stack.describe()
    if current is None:
        log.info("stack %s does not exist: nothing to tear down", name)
        return {"stack": name, "status": "absent", "images_deleted": 0}
    deleted = 0
    if ecr is not None:
        resources = stack._call("ListStackResources", client.list_stack_resources, StackName=name)
        for res in resources.get("StackResourceSummaries", []):
            if res.get("ResourceType") == "AWS::ECR::Repository" and res.get("PhysicalResourceId"):
                deleted += _empty_repository(ecr, str(res["PhysicalResourceId"]))
    with step(f"delete stack {name}", log):
        stack._call("DeleteStack", client.delete_stack, StackName=name)
        final = stack.wait("deleting")
    status = str(final["StackStatus"])
    if status != "DELETE_COMPLETE":
        stack.log_failed_events()
        raise OperationError(f"stack {name} ended {status}", hint="see the failed events above; retry the teardown")
    return {"stack": name, "status": status, "images_deleted": deleted}


def _empty_repository(ecr: Any, repository: str) -> int:
    try:
        ids: list[dict[str, str]] = []
        for page in ecr.get_paginator("list_images").paginate(repositoryName=repository):
            ids.extend(page.get("imageIds", []))
        for i in range(0, len(ids), 100):
            ecr.batch_delete_image(repositoryName=repository, imageIds=ids[i : i + 100])
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
            return 0
        raise OperationError(
            f"cannot empty ECR repository {repository}: {exc}",
            hint="the credentials need ecr:ListImages and ecr:BatchDeleteImage; rerun the teardown",
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise OperationError(
            f"cannot empty ECR repository {repository}: {exc}",
            hint="check network access to ECR (or AWS_ENDPOINT_URL_ECR) and the region, then rerun the teardown",
        ) from exc
    log.info("deleted %d image(s) from ECR repository %s", len(ids), repository)
    return len(ids)


# ----------------------------------------------------------------------------------------- local target


def local_name(image_name: str) -> str:
    """Container name of the local target for ``image_name``."""
    return "ca-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", image_name) + "-local"


def deploy_local(
    client: Any,
    reference: str,
    *,
    name: str,
    port: int,
    path: str = "/healthz",
    timeout: float = 60.0,
    network: str = "host",
    container_port: int = 8080,
    auth: dict[str, str] | None = None,
    tag: str = "",
) -> DeployResult:
    """Run ``reference`` (pulled from its registry) as the long-lived container ``name`` on 127.0.0.1:``port``.

    The previous container keeps serving until a candidate of the new image has passed its health check
    on a spare port; only then is it stopped and the new one started on ``port``. If anything fails from
    there on (the port is taken, the engine errs, the new one is unhealthy, the build is aborted), the new
    container is removed and the previous one renamed back and started, so the target is never left down.
    """
    img.validate_network(network)
    with step(f"deploy {reference} to the local target 127.0.0.1:{port}", log):
        img.pull(client, reference, auth)
        _remove(client, f"{name}-candidate")  # left over from a crashed run
        # The new image proves itself on a spare port while the previous container keeps serving.
        img.smoke_test(
            client,
            reference,
            path=path,
            timeout=timeout,
            network=network,
            container_port=container_port,
            name=f"{name}-candidate",
            role="candidate",
            what="health check",
            consequence="the local target still runs the previous one",
        )
        previous = _get(client, name)
        backup = f"{name}-previous"
        if previous is not None:
            _remove(client, backup)
            previous.rename(backup)
        # From here on the target is being replaced: whatever fails (the port is taken, the engine errs, the
        # new container is unhealthy, SIGTERM), the new container goes and the previous one comes back.
        # Otherwise a dead container would hold the name and the next deploy would discard the real backup.
        try:
            if previous is not None:
                previous.stop(timeout=10)
            live = img.start(
                client,
                reference,
                name=name,
                network=network,
                container_port=container_port,
                host_port=port,
                role="local-target",
                restart=True,
            )
            health = img.wait_healthy(live.base_url + path, timeout, alive=live.alive)
            if health.status != 200:
                img.show_logs(live, reference)
                raise OperationError(
                    f"{reference} passed its check on a spare port but not on 127.0.0.1:{port}",
                    hint=f"is something else listening on port {port}?"
                    + (" The previous container was restarted" if previous is not None else ""),
                )
        except BaseException:
            _restore(client, name, previous)
            raise
        if previous is not None:
            _remove(client, backup)
    url = f"http://127.0.0.1:{port}/"
    log.info("local target runs %s at %s", reference, url)
    return DeployResult(target="local", image_tag=tag, status="running", changed=True, url=url)


def _restore(client: Any, name: str, previous: Any | None) -> None:
    """Remove the new container ``name`` and put ``previous`` back under that name, running.

    Runs while an error is on its way out, so it never raises: a failure is logged with the commands
    that finish the job by hand, and the original error stays the one the user sees.
    """
    try:
        _remove(client, name)
        if previous is None:
            return
        previous.rename(name)
        previous.start()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        log.error("could not restore the previous local target %s: %s", name, img.docker_reason(exc))
        if previous is not None:
            by_hand = f"docker rm -f {name}; docker rename {name}-previous {name}; docker start {name}"
            log.error("  restore it by hand: %s", by_hand)
        return
    if previous is not None:
        log.warning("the previous container %s runs again", name)


def _get(client: Any, name: str) -> Any | None:
    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def _remove(client: Any, name: str) -> bool:
    container = _get(client, name)
    if container is None:
        return False
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True)
    return True


def teardown_local(client: Any, name: str) -> dict[str, Any]:
    """Stop and remove the local target (and any candidate or backup a crashed deploy left behind)."""
    removed = [n for n in (name, f"{name}-candidate", f"{name}-previous") if _remove(client, n)]
    log.info("local target %s: %s", name, "removed" if removed else "not running")
    return {"container": name, "removed": removed}
