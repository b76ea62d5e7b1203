"""``ca-publish [PROJECT_DIR...]``: build Python projects and publish them to CodeArtifact (or any PyPI index)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from ..publish import many
from ..publish.flow import PublishResult, publish
from ..settings import Settings
from ._common import ArgumentParser, add_options, new_parser, run

PROG = "ca-publish"
SETTINGS = ("index", "publish")
LIBRARIES = ("build", "twine", "boto3", "botocore")
log = logging.getLogger("jenkins_codeartifact")


def parser() -> ArgumentParser:
    p = new_parser(
        PROG,
        "Build sdist + wheel with PyPA build and upload them with twine to AWS CodeArtifact "
        "(or any PyPI-compatible index). Refuses a version that is already published (exit 3).",
        LIBRARIES,
    )
    p.add_argument(
        "project",
        nargs="*",
        default=["."],
        metavar="PROJECT_DIR",
        help="project directories or quoted globs ('packages/*'), published in dependency order (default: .)",
    )
    add_options(p, *SETTINGS)
    return p


def _body(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    dirs, several = many.expand(args.project)
    if several:
        return many.publish_many(settings, dirs, record)
    result = PublishResult()
    try:
        publish(settings, dirs[0], result=result)
    finally:  # failed or aborted too: the report says what reached the index ("release", "files")
        record.update(result.as_report())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
