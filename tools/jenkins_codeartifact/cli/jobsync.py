"""``jobsync render|diff|apply``: Jenkins jobs from ``jenkins/jobs/*.yml``, planned against the live server."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import redact, report
from ..errors import EXIT_FAILED, EXIT_OK, ConfigError, OperationError
from ..jobsync import configxml, jenkinsfile, model
from ..settings import Settings
from ._common import ArgumentParser, add_common, load_settings, run

if TYPE_CHECKING:
    from ..jobsync import sync

PROG = "jobsync"
log = logging.getLogger("jenkins_codeartifact")


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Keep Jenkins jobs in YAML: render config.xml offline, diff against the server, apply.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{render,diff,apply}", parser_class=ArgumentParser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--jobs-dir", help="directory of job specs (CA_JOBS_DIR, default jenkins/jobs)")
        add_common(sp)

    def server(sp: argparse.ArgumentParser) -> None:
        g = sp.add_argument_group("Jenkins (the API token comes from JENKINS_API_TOKEN only)")
        g.add_argument("--url", dest="jenkins_url", help="Jenkins base URL (JENKINS_URL)")
        g.add_argument("--user", dest="jenkins_user", help="Jenkins user (JENKINS_USER)")
        g.add_argument(
            "--verify",
            action="store_true",
            help="also compare every managed job's config.xml (one GET each) to catch hand edits (CA_VERIFY)",
        )
        g.add_argument(
            "--adopt",
            action="store_true",
            help="take over existing jobs that have a spec but no jobsync marker (CA_ADOPT)",
        )
        g.add_argument(
            "--replace",
            action="store_true",
            help="delete and recreate a job whose type changed; its build history is lost (CA_REPLACE)",
        )

    r = sub.add_parser("render", help="render config.xml (and Jenkinsfiles) offline, like `jenkins-jobs test`")
    r.add_argument("-o", "--output", type=Path, help="write NAME.xml files here instead of printing them")
    jf = r.add_mutually_exclusive_group()
    jf.add_argument(
        "--write-jenkinsfiles",
        action="store_true",
        help="rewrite each pipeline's Jenkinsfile (script_path, relative to --root) from its spec",
    )
    jf.add_argument(
        "--check-jenkinsfiles",
        action="store_true",
        help="exit 1 if a checked-in Jenkinsfile differs from its rendering",
    )
    r.add_argument("--root", type=Path, default=Path("."), help="repository root for script_path (default: .)")
    common(r)

    d = sub.add_parser("diff", help="plan against the server: create/update/unchanged/delete, XML diffs")
    d.add_argument("--prune", action="store_true", help="mark deletions as planned; listed anyway (CA_PRUNE)")
    server(d)
    common(d)

    a = sub.add_parser("apply", help="create and update jobs; --prune deletes managed jobs not in the specs")
    a.add_argument(
        "--prune", action="store_true", help="delete jobs jobsync manages that are not in the specs (CA_PRUNE)"
    )
    a.add_argument("--workers", type=int, help="parallel requests (CA_WORKERS, default 8)")
    server(a)
    common(a)
    return p


def _client(settings: Settings) -> sync.Client:
    from ..jobsync import sync  # imported late: requests and python-jenkins are not needed to render offline

    if not settings.jenkins_url:
        raise ConfigError("no Jenkins URL", hint="pass --url or set JENKINS_URL (for example http://localhost:8080)")
    if settings.jenkins_user and not settings.jenkins_api_token:
        log.warning("WARNING: JENKINS_USER is set but JENKINS_API_TOKEN is not: connecting anonymously")
    user = settings.jenkins_user if settings.jenkins_api_token else None
    return sync.Client(settings.jenkins_url, user, settings.jenkins_api_token, workers=settings.workers)


def _output_dir(path: Path) -> Path:
    """``-o``: a directory, or a path where one can be made; checked before anything is rendered."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"-o {path}: is a file, not a directory", hint="name a directory for the NAME.xml files")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if not path.exists() and parent is not None and not parent.is_dir():
        raise ConfigError(f"-o {path}: {parent} is a file, not a directory")
    return path


def _render(args: argparse.Namespace, specs: model.Specs) -> int:
    if args.output is not None:
        try:
            written = configxml.write(specs.items, args.output)
        except OSError as exc:
            raise OperationError(f"-o {args.output}: cannot write: {exc.strerror or exc}: {exc.filename}") from None
        log.info("rendered %d items into %s", len(written), args.output)
    elif not (args.write_jenkinsfiles or args.check_jenkinsfiles):
        for item in specs.items:
            sys.stdout.write(redact.scrub(f"==> {item.name} <==\n{configxml.render(item)}\n"))
    if args.write_jenkinsfiles or args.check_jenkinsfiles:
        drifted = jenkinsfile.sync(specs, args.root, write=args.write_jenkinsfiles)
        if args.check_jenkinsfiles and drifted:
            raise OperationError(
                f"Jenkinsfile out of date with its spec: {', '.join(map(str, drifted))}",
                hint="run `jobsync render --write-jenkinsfiles` and commit the result",
            )
    return EXIT_OK


def _body(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    if args.command == "render" and args.output is not None:
        _output_dir(args.output)
    specs = model.load(settings.jobs_dir)
    if args.command == "render":
        return _render(args, specs)
    from ..jobsync import sync

    client = _client(settings)
    p = sync.plan(
        specs,
        client,
        verify=settings.verify,
        diffs=args.command == "diff",
        adopt=settings.adopt,
        replace=settings.replace,
    )
    if args.command == "diff":
        sys.stdout.write(redact.scrub(p.render(prune=settings.prune)))
        if settings.report:
            report.write(settings.report, {"plan": p.counts()})
        return EXIT_OK
    result = sync.apply(p, client, prune=settings.prune)
    if settings.report:
        report.write(settings.report, result.as_report())
    if result.failed:
        log.error("ERROR: jobsync apply: %s", result.summary())
        return EXIT_FAILED
    log.info("jobsync apply: %s", result.summary())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
