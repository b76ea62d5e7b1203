"""Deploy one of infra/*.yml through the toolkit's CloudFormation path: change set, events, outputs.

    python infra/deploy.py STACK TEMPLATE [KEY=VALUE ...] [--region R] [--profile P] [--role-arn ARN] [--env]

Parameters are checked against the template's constraints before any AWS call (one ERROR line naming
the parameter, exit 2); a parameter not given keeps its previous value on an update. The change set is
shown, executed and followed to a final status; failed resource events are printed on failure (exit 1);
an empty change set is a success. stdout gets one ``OutputKey=value`` line per output, or with ``--env``
``export`` lines for the outputs the toolkit reads (``eval "$(python infra/deploy.py ... --env)"``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from jenkins_codeartifact import aws
from jenkins_codeartifact.cli import _common
from jenkins_codeartifact.console import step
from jenkins_codeartifact.consume.cloudformation import (
    NO_CHANGES,
    OK,
    NoChanges,
    Stack,
    precheck,
    read_template,
)
from jenkins_codeartifact.errors import ConfigError, OperationError
from jenkins_codeartifact.settings import Settings

log = logging.getLogger("jenkins_codeartifact.infra")

# Outputs of infra/codeartifact.yml and the settings (environment variables) they feed.
SETTINGS = {"DomainName": "CA_DOMAIN", "DomainOwner": "CA_DOMAIN_OWNER", "RepositoryName": "CA_REPOSITORY"}


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Ref, !Sub ...) as plain values: only Parameters matter."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_parameters(body: str, where: str) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.load(body, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not a YAML template: {exc}") from None
    params = data.get("Parameters") if isinstance(data, dict) else None
    return dict(params) if isinstance(params, dict) else {}


def check_parameters(specs: dict[str, dict[str, Any]], values: dict[str, str]) -> list[str]:
    """CloudFormation's refusals of ``values`` (empty: accepted), worded as CloudFormation words them.

    AllowedPattern must match the whole value; with a ConstraintDescription the answer is
    "Parameter 'NAME' failed to satisfy constraint: DESCRIPTION".
    """
    errors = []
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            errors.append(f"Parameter '{name}' is not a parameter of the template (known: {', '.join(specs)})")
            continue
        ok = (
            int(spec.get("MinLength", 0)) <= len(value) <= int(spec.get("MaxLength", 4096))
            and ("AllowedPattern" not in spec or re.fullmatch(str(spec["AllowedPattern"]), value) is not None)
            and value in [str(v) for v in spec.get("AllowedValues", [value])]
        )
        if not ok:
            why = spec.get("ConstraintDescription") or f"must match pattern {spec.get('AllowedPattern')}"
            errors.append(f"Parameter '{name}' failed to satisfy constraint: {' '.join(str(why).split())}")
    return errors


def _values(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{pair!r}: expected KEY=VALUE")
        values[key] = value
    return values


def prepare(template: str, values: dict[str, str]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The template body and its parameters, once ``values`` passed their constraints (before any AWS call)."""
    body = read_template(template)
    specs = template_parameters(body["TemplateBody"], template)
    errors = check_parameters(specs, values)
    if errors:
        raise ConfigError(errors[0], hint=f"see the Parameters section of {template}")
    return body, specs


def deploy(stack: Stack, template: str, values: dict[str, str]) -> dict[str, str]:
    """Create or update ``stack`` from ``template`` with ``values``; the stack's outputs."""
    body, specs = prepare(template, values)
    current = stack.describe()
    precheck(stack, current)
    creating = current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS"
    previous = {p["ParameterKey"] for p in (current or {}).get("Parameters", [])} if not creating else set()
    parameters: list[dict[str, Any]] = [
        {"ParameterKey": k, "ParameterValue": values[k]}
        if k in values
        else {"ParameterKey": k, "UsePreviousValue": True}
        for k in specs
        if k in values or k in previous
    ]
    kind = "CREATE" if creating else "UPDATE"
    name = f"infra-{uuid.uuid4().hex[:8]}"
    with step(f"{kind.lower()} stack {stack.name} from {template} (change set {name})", log):
        started = dt.datetime.now(dt.UTC)
        try:
            change_set = stack.create_change_set(
                ChangeSetName=name,
                ChangeSetType=kind,
                Parameters=parameters,
                Capabilities=["CAPABILITY_IAM"],
                Description=f"infra/deploy.py {Path(template).name}",
                **body,
            )
        except NoChanges:
            return _unchanged(stack.name, current)
        described = stack.wait_change_set(change_set)
        if described["Status"] == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if NO_CHANGES.search(reason):
                stack.delete_change_set(change_set)
                return _unchanged(stack.name, current)
            raise OperationError(f"change set {name} for stack {stack.name} failed: {reason}")
        for change in described.get("Changes", []):
            rc = change.get("ResourceChange", {})
            log.info("  %s %s (%s)", rc.get("Action", "?"), rc.get("LogicalResourceId"), rc.get("ResourceType"))
        stack.execute_change_set(change_set)
        final = stack.wait("executing the change set", done=lambda: stack.executed(change_set))
        if final["StackStatus"] not in OK:
            stack.log_failed_events(since=started)
            raise OperationError(f"stack {stack.name} ended {final['StackStatus']}", hint="see the failed events above")
    return _outputs(final)


def _unchanged(name: str, current: dict[str, Any] | None) -> dict[str, str]:
    log.info("no changes: stack %s is up to date", name)
    return _outputs(current or {})


def _outputs(described: dict[str, Any]) -> dict[str, str]:
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in described.get("Outputs", []) or []}


def _body(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    values = _values(args.parameters)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", args.stack):
        raise ConfigError(f"stack name {args.stack!r}: letters, digits and '-', starting with a letter")
    prepare(args.template, values)  # a wrong path or value costs no credentials and no AWS call
    client = aws.session(settings).client("cloudformation")
    outputs = deploy(Stack(client, args.stack, poll=args.poll), args.template, values)
    record["outputs"] = outputs
    for key, value in outputs.items():
        if not args.env:
            print(f"{key}={value}")
        elif key in SETTINGS:
            print(f"export {SETTINGS[key]}={shlex.quote(value)}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = _common.new_parser("infra/deploy.py", (__doc__ or "").splitlines()[0])
    p.add_argument("stack", help="stack name (for example codeartifact, jenkins-iam)")
    p.add_argument("template", help="infra/codeartifact.yml or infra/jenkins-iam.yml")
    p.add_argument("parameters", nargs="*", metavar="KEY=VALUE", help="template parameters")
    p.add_argument("--env", action="store_true", help="print export lines for the settings the outputs feed")
    p.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    _common.add_options(p, "region", "profile", "role_arn")
    return p


def main(argv: list[str] | None = None) -> int:
    return _common.run(parser(), _body, argv)


if __name__ == "__main__":
    sys.exit(main())
