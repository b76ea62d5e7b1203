"""``ca-consume-deploy build|smoke-test|push|deploy|rollback|promote|all|teardown``: the consumer pipeline's stages.

One subcommand per Jenkins stage, so each stage's log and failure stand on their own; ``all`` runs the
four in order for a one-shot run. Progress goes to stderr; stdout gets ``KEY=value`` lines (IMAGE,
IMAGE_ID, PUSHED, DIGEST, DEPLOYED, URL) a later step can read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..consume.pipeline import Stages, plan_exit_code, summary
from ..settings import Settings
from ._common import ArgumentParser, add_options, load_settings, new_parser, run

PROG = "ca-consume-deploy"
COMMANDS = {
    "build": "build the image; pip reads the index (with its token) from a BuildKit secret",
    "smoke-test": "run the image and GET the smoke path until HTTP 200; always remove the container",
    "push": "push to ECR (login via the AWS API) or to --registry, with retries",
    "deploy": "CloudFormation change set on ImageTag (--target cloudformation) or the local container",
    "rollback": "deploy the newest earlier image that was live and healthy on this stack (or --to / --to-digest)",
    "promote": "deploy to --to ENV the digest live and healthy in --from ENV (copied when its registry differs)",
    "all": "build, smoke-test, push, deploy; stops at the first failure",
    "teardown": "empty the ECR repository and delete the stack, or remove the local container",
}


SETTINGS = ("image", "smoke", "deploy", "index")
LIBRARIES = ("boto3", "botocore", "docker")


def parser() -> ArgumentParser:
    p = new_parser(
        PROG, "Build the consumer image against the private index, smoke-test it, push it and deploy it.", LIBRARIES
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=ArgumentParser)
    options = ArgumentParser(add_help=False)
    add_options(options, *SETTINGS)
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, description=text, parents=[options])
    return p


def _body(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    if args.command == "promote" and args.rollback_tag:  # promote --to ENV deploys to that environment
        args.env = args.rollback_tag
        settings = load_settings(args)
    pipeline = Stages(settings, config=getattr(args, "config", None))
    try:
        pipeline.run(args.command)
    finally:  # a failed or aborted run still reports what its stages did
        record.update(pipeline.record)
    for line in summary(pipeline.record):
        sys.stdout.write(line + "\n")
    return plan_exit_code(settings, pipeline.record)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
