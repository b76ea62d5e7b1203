"""A CloudFormation stack: its API calls (one error mapping), waits with deadlines, failed events, the
states a change set cannot be applied to, the parameters a deploy sends, and teardown.

The stack's state is checked before and after each operation, because botocore's waiters count rollback
states as "complete" and because a stack stuck in ``ROLLBACK_COMPLETE`` or ``UPDATE_ROLLBACK_FAILED``
needs a human step that the message must name. The deploy itself is in changeset.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import botocore.exceptions

from .. import aws, files
from ..console import step
from ..errors import ConfigError, OperationError, PreconditionError
from . import registry

log = logging.getLogger(__name__)

IMAGE_TAG = "ImageTag"
IMAGE_DIGEST = "ImageDigest"  # application.yml: the image by digest when set (blank: by tag)
CONTAINER_NAME = "ContainerName"  # application.yml names the ECR repository after it
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
TEMPLATE_LIMIT = 51200  # CloudFormation's limit for an inline TemplateBody, in bytes
NETWORK_HINT = "check network access to CloudFormation (or AWS_ENDPOINT_URL_CLOUDFORMATION) and the region"
NO_CHANGES = re.compile(r"didn't contain changes|No updates are to be performed|no changes", re.IGNORECASE)
OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
_NEEDS_DELETE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_COMPLETE"}
EXECUTED = {"EXECUTE_COMPLETE", "EXECUTE_FAILED", "OBSOLETE"}


class CloudFormationClient(Protocol):  # the calls we make; tests pass Stubber-wrapped clients
    def describe_stacks(self, **kw: Any) -> dict[str, Any]: ...
    def get_template_summary(self, **kw: Any) -> dict[str, Any]: ...
    def create_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def describe_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def delete_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def execute_change_set(self, **kw: Any) -> dict[str, Any]: ...
    def describe_stack_events(self, **kw: Any) -> dict[str, Any]: ...
    def list_stack_resources(self, **kw: Any) -> dict[str, Any]: ...
    def delete_stack(self, **kw: Any) -> dict[str, Any]: ...
    def cancel_update_stack(self, **kw: Any) -> dict[str, Any]: ...


class NoChanges(Exception):
    """CloudFormation refused a change set because it would change nothing (a success for a deploy)."""


@dataclass
class Stack:
    """One CloudFormation stack: every API call on it goes through here (and its one error mapping);
    polls with an injectable clock."""

    client: CloudFormationClient
    name: str
    poll: float = 5.0
    timeout: float = 3600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def _api(
        self, operation: str, *, absent: Callable[[Exception], bool] | None = None, **kw: Any
    ) -> dict[str, Any] | None:
        """Call ``operation`` (e.g. ``DescribeStacks``); None when ``absent`` says the error means "not there"."""
        method = getattr(self.client, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        try:
            return dict(method(**kw))
        except botocore.exceptions.ClientError as exc:
            if absent is not None and absent(exc):
                return None
            raise aws.api_error(f"CloudFormation {operation} failed", exc, network_hint=NETWORK_HINT) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise aws.api_error(f"CloudFormation {operation} failed", exc, network_hint=NETWORK_HINT) from exc

    def describe(self) -> dict[str, Any] | None:
        """The stack, or None when it does not exist (CloudFormation says so with a ValidationError)."""
        resp = self._api(
            "DescribeStacks", absent=lambda e: "does not exist" in aws.error_message(e), StackName=self.name
        )
        stacks = (resp or {}).get("Stacks") or []
        return dict(stacks[0]) if stacks else None

    def template_parameters(self, template: Mapping[str, str]) -> list[str]:
        """The parameter names of ``template`` (``TemplateBody=...``), as CloudFormation reads them."""
        summary = self._api("GetTemplateSummary", TemplateBody=template["TemplateBody"]) or {}
        return [str(p["ParameterKey"]) for p in summary.get("Parameters", [])]

    def resource_types(self, template: Mapping[str, str]) -> list[str]:
        """The resource types ``template`` declares (``TemplateBody=...``), else the stack's current template."""
        where: dict[str, Any] = {"TemplateBody": template["TemplateBody"]} if template else {"StackName": self.name}
        return [str(t) for t in (self._api("GetTemplateSummary", **where) or {}).get("ResourceTypes", [])]

    def create_change_set(self, **kw: Any) -> str:
        """A new change set's id; :class:`NoChanges` when CloudFormation refuses it as empty up front."""
        resp = self._api(
            "CreateChangeSet", absent=lambda e: bool(NO_CHANGES.search(aws.error_message(e))), StackName=self.name, **kw
        )
        if resp is None:
            raise NoChanges
        return str(resp["Id"])

    def describe_change_set(self, change_set_id: str) -> dict[str, Any] | None:
        """The change set, or None once it is gone (a failed create deletes the stack and its change sets)."""
        gone = "ChangeSetNotFound"
        return self._api("DescribeChangeSet", absent=lambda e: aws.error_code(e) == gone, ChangeSetName=change_set_id)

    def execute_change_set(self, change_set_id: str) -> None:
        self._api("ExecuteChangeSet", ChangeSetName=change_set_id)

    def delete_change_set(self, change_set_id: str) -> None:
        self._api("DeleteChangeSet", ChangeSetName=change_set_id)

    def resources(self) -> list[dict[str, Any]]:
        return list((self._api("ListStackResources", StackName=self.name) or {}).get("StackResourceSummaries", []))

    def delete(self) -> None:
        self._api("DeleteStack", StackName=self.name)

    def cancel_update(self) -> None:
        self._api("CancelUpdateStack", StackName=self.name)

    def events(self) -> list[dict[str, Any]]:
        """The newest page of the stack's events (newest first)."""
        return list((self._api("DescribeStackEvents", StackName=self.name) or {}).get("StackEvents", []))

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

    def wait_change_set(self, change_set_id: str) -> dict[str, Any]:
        """Poll the change set until CloudFormation has computed it (or failed to)."""
        start = self.clock()
        while True:
            described = self.describe_change_set(change_set_id)
            if described is None:
                raise OperationError(f"change set {change_set_id} of stack {self.name} disappeared while created")
            if described["Status"] in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"):
                return described
            if self.clock() - start > self.timeout:
                raise OperationError(
                    f"change set for {self.name} still {described['Status']} after {self.timeout:.0f}s"
                )
            self.sleep(self.poll)

    def executed(self, change_set_id: str) -> bool:
        """Whether CloudFormation has finished executing the change set (so the stack status is its result)."""
        described = self.describe_change_set(change_set_id)
        if described is None:
            return True  # gone (the stack was deleted by a failed create): the stack status is all there is
        execution = str(described.get("ExecutionStatus", ""))
        if execution not in EXECUTED:
            log.debug("change set %s: %s, the stack status is not its result yet", change_set_id, execution)
        return execution in EXECUTED


def precheck(stack: Stack, current: dict[str, Any] | None) -> None:
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


def read_template(template: str | None) -> dict[str, str]:
    """``{"TemplateBody": ...}`` for ``--template`` (checked: readable, within the inline limit), else {}."""
    if template is None:
        return {}
    body = files.read_text(template, f"--template {template}")
    if len(body.encode()) > TEMPLATE_LIMIT:
        raise ConfigError(f"--template {template}: over CloudFormation's 51,200-byte inline limit")
    return {"TemplateBody": body}


def parameters(
    stack: Stack,
    current: dict[str, Any] | None,
    template: dict[str, str],
    tag: str,
    params: Mapping[str, str],
    defaults: Mapping[str, str],
    digest: str = "",
) -> list[dict[str, Any]]:
    """ImageTag (and ImageDigest, where the template has it) and the given values; every other parameter
    of an existing stack keeps its value.

    ``defaults`` fill parameters the user did not give where there is no previous value (a new stack):
    ContainerName defaults to the image name, because application.yml names the ECR repository (and so
    the image its task definition runs) after it.
    """
    if template:
        known = stack.template_parameters(template)
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
            f"--param {', '.join(unknown)}: not a parameter of the template", hint="known: " + ", ".join(known)
        )
    creating = current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS"
    previous = {str(p["ParameterKey"]): p.get("ParameterValue") for p in (current or {}).get("Parameters", [])}
    out: list[dict[str, Any]] = []
    for key in known:
        if key == IMAGE_TAG:
            out.append({"ParameterKey": key, "ParameterValue": tag})
        elif key == IMAGE_DIGEST:  # always set: an earlier deploy's digest must not outlive its tag
            out.append({"ParameterKey": key, "ParameterValue": digest})
        elif key in params:
            out.append({"ParameterKey": key, "ParameterValue": params[key]})
        elif key in previous and not creating:
            out.append({"ParameterKey": key, "UsePreviousValue": True})
            if key in defaults and previous[key] is not None and previous[key] != defaults[key]:
                log.warning(
                    "stack %s keeps %s=%s (not %s); pass --param %s=%s to change it",
                    *(stack.name, key, previous[key], defaults[key], key, defaults[key]),
                )
        elif key in defaults:
            out.append({"ParameterKey": key, "ParameterValue": defaults[key]})
        # else: the template's default applies (or CloudFormation names the missing value)
    return out


def teardown_stack(
    client: CloudFormationClient,
    name: str,
    *,
    ecr: Any | None = None,
    poll: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The walkthrough's clean-up: empty the stack's ECR repository (CloudFormation cannot), delete the stack."""
    stack = Stack(client, name, poll=poll, timeout=timeout, sleep=sleep)
    if stack.describe() is None:
        log.info("stack %s does not exist: nothing to tear down", name)
        return {"stack": name, "status": "absent", "images_deleted": 0}
    deleted = 0
    if ecr is not None:
        for res in stack.resources():
            if res.get("ResourceType") == "AWS::ECR::Repository" and res.get("PhysicalResourceId"):
                deleted += registry.empty_repository(ecr, str(res["PhysicalResourceId"]))
    with step(f"delete stack {name}", log):
        stack.delete()
        final = stack.wait("deleting")
    status = str(final["StackStatus"])
    if status != "DELETE_COMPLETE":
        stack.log_failed_events()
        raise OperationError(f"stack {name} ended {status}", hint="see the failed events above; retry the teardown")
    return {"stack": name, "status": status, "images_deleted": deleted}
