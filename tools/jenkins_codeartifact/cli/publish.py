"""``ca-publish [PROJECT_DIR]``: build a Python project and publish it to CodeArtifact (or any PyPI index)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from .. import redact, report
from ..errors import CAError
from ..publish.flow import publish
from ._common import ArgumentParser, add_aws, add_common, load_settings, run

PROG = "ca-publish"
log = logging.getLogger("jenkins_codeartifact")


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Build sdist + wheel with PyPA build and upload them with twine to AWS CodeArtifact "
        "(or any PyPI-compatible index). Refuses a version that is already published (exit 3).",
    )
    p.add_argument("project", nargs="?", default=".", type=Path, help="project directory (default: .)")
    p.add_argument("--skip-existing", action="store_true", help="exit 0 if the version exists; upload missing files")
    p.add_argument("--dry-run", action="store_true", help="build and check, upload nothing (CA_DRY_RUN)")
    p.add_argument("--dist-dir", help="where built files go (default: PROJECT/dist) (CA_DIST_DIR)")
    p.add_argument("--fresh-build-env", action="store_true", help="throwaway build env (CA_FRESH_BUILD_ENV)")
    add_aws(p)
    add_common(p)
    return p


def _body(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    try:
        result = publish(settings, args.project)
    except BaseException as exc:  # a later stage reads the report: say what failed, not nothing
        if settings.report:
            message = exc.message if isinstance(exc, CAError) else f"{type(exc).__name__}: {redact.scrub(str(exc))}"
            code = exc.exit_code if isinstance(exc, CAError) else 1
            try:
                report.write(settings.report, {"status": "failed", "error": {"message": message, "exit_code": code}})
            except CAError as write_error:  # the run's own error is the one to show
                log.warning("could not write the report: %s", write_error.message)
        raise
    if settings.report:
        report.write(settings.report, result.as_report())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
