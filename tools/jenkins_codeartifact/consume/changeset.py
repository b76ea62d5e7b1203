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
from typing import Any

from ..console import step
from ..errors import ConfigError, OperationError, PreconditionError
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
from .target import DeployResult

log = logging.getLogger(__name__)


def deploy_stack(
    client: CloudFormationClient,
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
    name = stack.name
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
    values = parameters(stack, current, body, tag, params, defaults)
    change_set = f"ca-{re.sub(r'[^A-Za-z0-9-]', '-', tag) or 'no-image'}-{uuid.uuid4().hex[:8]}"
    kind = "CREATE" if creating else "UPDATE"
    source: dict[str, Any] = dict(body) if body else {"UsePreviousTemplate": True}
    what = f"{IMAGE_TAG}={tag}" if tag else f"stack {name} without an image (empty {IMAGE_TAG})"
    title = f"deploy {what} to stack {name}" if tag else f"create {what}"
    with step(f"{title} ({kind} change set {change_set})", log):
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
            return _unchanged(stack, current, tag)
        described = stack.wait_change_set(change_set_id)
        if described["Status"] == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if NO_CHANGES.search(reason):
                stack.delete_change_set(change_set_id)
                return _unchanged(stack, current, tag)
            raise OperationError(
                f"change set {change_set} for stack {name} failed: {reason}",
                hint="fix the template or the parameters named above and rerun",
            )
        _log_changes(described)
        stack.execute_change_set(change_set_id)
        final = stack.wait("executing the change set", done=lambda: stack.executed(change_set_id))
        status = str(final["StackStatus"])
        if status not in OK:
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
    url = outputs.get("ApplicationUrl")
    return DeployResult(
        "cloudformation", tag, status, True, stack=name, change_set=change_set, url=url, outputs=outputs
    )


def _log_changes(described: dict[str, Any]) -> None:
    for change in described.get("Changes", []):
        rc = change.get("ResourceChange", {})
        replace = " (replacement)" if rc.get("Replacement") == "True" else ""
        log.info("  %s %s (%s)%s", rc.get("Action", "?"), rc.get("LogicalResourceId"), rc.get("ResourceType"), replace)


def _unchanged(stack: Stack, current: dict[str, Any] | None, tag: str) -> DeployResult:
    log.info("no changes: stack %s already runs %s=%s", stack.name, IMAGE_TAG, tag)
    outputs = _outputs(current or {})
    _log_outputs(stack.name, outputs)
    status = str((current or {}).get("StackStatus", ""))
    url = outputs.get("ApplicationUrl")
    return DeployResult("cloudformation", tag, status, False, stack=stack.name, url=url, outputs=outputs)


def _outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", []) or []}


def _log_outputs(name: str, outputs: Mapping[str, str]) -> None:
    for key, value in sorted(outputs.items()):
        log.info("output %s = %s", key, value)
    if "ApplicationUrl" in outputs:
        log.info("ApplicationUrl: %s", outputs["ApplicationUrl"])
