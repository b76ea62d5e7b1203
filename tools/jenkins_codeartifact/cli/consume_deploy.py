"""``ca-consume-deploy build|smoke-test|push|deploy|all|teardown``: the consumer pipeline's stages.

One subcommand per Jenkins stage, so each stage's log and failure stand on their own; ``all`` runs the
four in order for a one-shot run. Progress goes to stderr; stdout gets ``KEY=value`` lines (IMAGE,
IMAGE_ID, PUSHED, DIGEST, DEPLOYED, URL) a later step can read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .. import redact, report
from ..consume.pipeline import Stages, summary
from ..errors import EXIT_FAILED, CAError
from ._common import ArgumentParser, add_aws, add_common, load_settings, run

PROG = "ca-consume-deploy"
log = logging.getLogger(__name__)
COMMANDS = {
    "build": "build the image; pip reads the index (with its token) from a BuildKit secret",
    "smoke-test": "run the image and GET the smoke path until HTTP 200; always remove the container",
    "push": "push to ECR (login via the AWS API) or to --registry, with retries",
    "deploy": "CloudFormation change set on ImageTag (--target cloudformation) or the local container",
    "all": "build, smoke-test, push, deploy; stops at the first failure",
    "teardown": "empty the ECR repository and delete the stack, or remove the local container",
}


def _options() -> ArgumentParser:
    p = ArgumentParser(add_help=False)
    g = p.add_argument_group("image")
    g.add_argument("--context", help="docker build context with the Dockerfile (CA_CONTEXT, default .)")
    g.add_argument("--image-name", help="image and ECR repository name (CA_IMAGE_NAME, default application)")
    g.add_argument("--tag", help="image tag (CA_TAG, else Jenkins' BUILD_NUMBER)")
    g.add_argument("--base-image", help="BASE_IMAGE build arg (CA_BASE_IMAGE)")
    g.add_argument("--registry", help="push to this host[:port] instead of the account's ECR (CA_REGISTRY)")
    g.add_argument("--docker-cli", help="docker CLI for BuildKit builds (CA_DOCKER_CLI, default docker)")
    g.add_argument("--network", help="host or bridge, for builds and containers (CA_DOCKER_NETWORK, default host)")
    g.add_argument("--push-retries", type=int, help="push attempts (CA_PUSH_RETRIES, default 4)")
    g = p.add_argument_group("smoke test and local target")
    g.add_argument("--smoke-path", help="path polled until HTTP 200 (CA_SMOKE_PATH, default /healthz)")
    g.add_argument("--smoke-timeout", type=float, help="seconds to wait (CA_SMOKE_TIMEOUT, default 60)")
    g.add_argument("--container-port", type=int, help="application port on a bridge network (CA_CONTAINER_PORT)")
    g.add_argument("--local-port", type=int, help="port of the local target on 127.0.0.1 (CA_LOCAL_PORT)")
    g = p.add_argument_group("deploy")
    g.add_argument("--target", help="cloudformation or local (CA_TARGET, default cloudformation)")
    g.add_argument("--stack", help="CloudFormation stack name (CA_STACK)")
    g.add_argument("--template", help="template to create the stack from, or to update it with (CA_TEMPLATE)")
    g.add_argument(
        "--param",
        dest="params",
        action="append",
        metavar="KEY=VALUE",
        help="stack parameter, repeatable; others keep their previous values (CA_PARAMS, ';'-separated)",
    )
    add_aws(p)
    add_common(p)
    return p


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Build the consumer image against the private index, smoke-test it, push it and deploy it.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=ArgumentParser)
    options = _options()
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, description=text, parents=[options])
    return p


def _body(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    pipeline = Stages(settings)
    try:
        pipeline.run(args.command)
    except BaseException as exc:
        pipeline.record["error"] = _error(exc)
        _report(settings.report, pipeline.record, args.command, failing=True)
        raise
    _report(settings.report, pipeline.record, args.command, failing=False)
    for line in summary(pipeline.record):
        sys.stdout.write(line + "\n")
    return 0


def _error(exc: BaseException) -> dict[str, Any]:
    """The report's ``error``: what the ERROR line says, for every way a run can end early."""
    if isinstance(exc, CAError):
        return {"message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
    if isinstance(exc, Exception):  # a bug; the CLI's handler prints the same words
        return {"message": redact.scrub(f"unexpected {type(exc).__name__}: {exc}"), "exit_code": EXIT_FAILED}
    if isinstance(exc, KeyboardInterrupt):
        return {"message": "interrupted", "exit_code": 130}
    return {"message": f"stopped ({type(exc).__name__})", "exit_code": 143}  # SIGTERM (Jenkins' abort)


def _report(path: str | None, record: dict[str, Any], command: str, *, failing: bool) -> None:
    """Write ``--report``; while a failure is on its way out, a write error is logged, not raised,
    so the user sees the failure that ended the run rather than the report's."""
    record.update(command=command, ok="error" not in record)
    if not path:
        return
    try:
        report.write(path, record)
    except Exception as exc:
        if not failing:
            raise
        reason = exc.message if isinstance(exc, CAError) else redact.scrub(f"{type(exc).__name__}: {exc}")
        log.warning("the report was not written: %s", reason)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)
