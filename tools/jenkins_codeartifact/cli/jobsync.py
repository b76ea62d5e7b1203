"""``jobsync render|diff|apply|import|run``: Jenkins jobs from ``jenkins/jobs/*.yml``: rendered, planned,
applied, imported from a server or saved config.xml, run."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import redact
from ..errors import EXIT_OK, ConfigError, OperationError, PreconditionError
from ..jobsync import configxml, jenkinsfile, jobspecs, model, owner
from ..settings import Settings
from ._common import ArgumentParser, add_options, new_parser, run

if TYPE_CHECKING:
    from ..jobsync import client

PROG = "jobsync"
log = logging.getLogger("jenkins_codeartifact")


_SERVER = ("jobs_dir", "jenkins_url", "jenkins_user", "owner", "verify", "adopt", "replace", "prune")
_PRUNE = ("prune_action", "max_delete")
SETTINGS = {
    "render": ("jobs_dir", "owner"),
    "diff": (*_SERVER, *_PRUNE),
    "apply": (*_SERVER, *_PRUNE, "workers"),
    "run": ("jobs_dir", "run"),
    "import": ("jobs_dir", "jenkins_url", "jenkins_user", "workers"),
}
LIBRARIES = ("python-jenkins", "requests", "PyYAML", "lxml")


def parser() -> ArgumentParser:
    p = new_parser(
        PROG, "Keep Jenkins jobs in YAML: render config.xml offline, diff against the server, apply.", LIBRARIES
    )
    sub = p.add_subparsers(
        dest="command", required=True, metavar="{render,diff,apply,import,run}", parser_class=ArgumentParser
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
    add_options(r, *SETTINGS["render"])
    d = sub.add_parser(
        "diff", help="plan against the server: create/update/rename/unchanged/delete/foreign/unmanaged, XML diffs"
    )
    add_options(d, *SETTINGS["diff"])
    a = sub.add_parser("apply", help="create and update jobs; --prune deletes managed jobs not in the specs")
    add_options(a, *SETTINGS["apply"])
    i = sub.add_parser("import", help="write specs for existing jobs (from the server, or saved config.xml)")
    i.add_argument(
        "--from-xml",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="saved config.xml files or directories (NAME.xml, NAME/config.xml, a JENKINS_HOME jobs/ tree, "
        "`jenkins-jobs test -o DIR` output) instead of the server",
    )
    i.add_argument("--folder", help="import only this folder and what is in it (server)")
    i.add_argument("--match", metavar="GLOB", help="import only items whose full name matches (server)")
    i.add_argument("--force", action="store_true", help="replace spec files that exist in --jobs-dir")
    add_options(i, *SETTINGS["import"])
    x = sub.add_parser("run", help="run one job from its spec here, the way Jenkins would (workspace, env, steps)")
    x.add_argument("job", metavar="JOB", help="the job's full name (folder/name)")
    x.add_argument("--checkout", type=Path, help="check out this local repository's committed HEAD, not the spec's URL")
    x.add_argument(
        "-p",
        "--param",
        dest="build_params",
        action="append",
        default=[],
        metavar="K=V",
        help="build parameter (repeatable); the job's declared parameters, checked as Jenkins does",
    )
    add_options(x, *SETTINGS["run"])
    return p


def _client(settings: Settings) -> client.Client:
    from ..jobsync import client  # imported late: requests is not needed to render offline

    if not settings.jenkins_url:
        raise ConfigError("no Jenkins URL", hint="pass --url or set JENKINS_URL (for example http://localhost:8080)")
    if settings.jenkins_user and not settings.jenkins_api_token:
        log.warning("WARNING: JENKINS_USER is set but JENKINS_API_TOKEN is not: connecting anonymously")
    user = settings.jenkins_user if settings.jenkins_api_token else None
    return client.Client(settings.jenkins_url, user, settings.jenkins_api_token, workers=settings.workers)


def _output_dir(path: Path) -> Path:
    """``-o``: a directory, or a path where one can be made; checked before anything is rendered."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"-o {path}: is a file, not a directory", hint="name a directory for the NAME.xml files")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if not path.exists() and parent is not None and not parent.is_dir():
        raise ConfigError(f"-o {path}: {parent} is a file, not a directory")
    return path


def _render(args: argparse.Namespace, settings: Settings, specs: model.Specs) -> int:
    try:  # offline, the owner is optional: without one the markers have no owner (apply writes it)
        who: str | None = owner.resolve(settings.jobs_dir, settings.owner)
    except ConfigError as exc:
        who = None
        log.debug("rendering without an owner: %s", exc.message)
    if args.output is not None:
        try:
            written = configxml.write(specs.items, args.output, who)
        except OSError as exc:
            raise OperationError(f"-o {args.output}: cannot write: {exc.strerror or exc}: {exc.filename}") from None
        log.info("rendered %d items into %s", len(written), args.output)
    elif not (args.write_jenkinsfiles or args.check_jenkinsfiles):
        for item in specs.items:
            sys.stdout.write(redact.scrub(f"==> {item.name} <==\n{configxml.render(item, who)}\n"))
    if args.write_jenkinsfiles or args.check_jenkinsfiles:
        drifted = jenkinsfile.sync(specs, args.root, write=args.write_jenkinsfiles)
        if args.check_jenkinsfiles and drifted:
            raise OperationError(
                f"Jenkinsfile out of date with its spec: {', '.join(map(str, drifted))}",
                hint="run `jobsync render --write-jenkinsfiles` and commit the result",
            )
    return EXIT_OK


def _run(args: argparse.Namespace, settings: Settings, specs: model.Specs, record: dict[str, Any]) -> int:
    from ..jobsync import run, runparts, workspace

    item = next((i for i in specs.items if model.fold(i.name) == model.fold(args.job)), None)
    if item is None:
        names = ", ".join(j.name for j in specs.jobs)
        raise ConfigError(f"unknown job {args.job!r} in {settings.jobs_dir}", hint=f"jobs in the specs: {names}")
    if isinstance(item, model.Folder):
        raise ConfigError(f"{item.name!r} ({item.source}) is a folder, not a job", hint="name a job inside it")
    runparts.refuse_unrunnable(item)
    assert not isinstance(item, model.RawItem | model.Multibranch)  # refused above
    state = Path(settings.state_dir)
    if state.exists() and not state.is_dir():
        raise ConfigError(f"--state-dir {state}: is a file, not a directory")
    params = runparts.parameters(item, run.parse_params(args.build_params))
    credentials = run.load_credentials(Path(settings.credentials_file)) if settings.credentials_file else None
    if args.checkout is not None:
        workspace.source_repository(args.checkout)
    plan = run.plan(item, credentials, args.checkout)
    runparts.notes(item)
    build = run.run(plan, state, params, args.checkout, on_abort=lambda b: record.update(b.as_report()))
    record.update(build.as_report())
    if build.result != "SUCCESS":
        raise OperationError(f"{build.job} #{build.number}: {build.result} (console log: {build.log})")
    return EXIT_OK


def _import(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    from ..jobsync import importing

    if args.from_xml is not None:
        if args.folder or args.match:
            raise ConfigError("--folder and --match select items on the server; with --from-xml name the files")
        sources, skipped = importing.from_files(args.from_xml)
    else:
        client = _client(settings)
        remotes = client.tree(args.folder.count("/") + 8 if args.folder else 8)
        names = importing.select(remotes, args.folder, args.match)
        if not names:
            raise PreconditionError("nothing to import: no item on the server matches", hint="check --folder/--match")
        log.info("import: %d items to read", len(names))
        sources, skipped = importing.fetch(names, client.config, settings.workers), []
    for line in skipped:
        log.info("import: %s", line)
    summary = importing.run(sources, Path(settings.jobs_dir), force=args.force)
    summary.skipped = skipped
    record.update(summary.as_report())
    for line in summary.lines():
        sys.stdout.write(redact.scrub(line) + "\n")
    if summary.encrypted:
        total = sum(i.encrypted for i in summary.encrypted)
        log.warning(
            "WARNING: %d Jenkins-encrypted values ({AQAAAB...}) kept as they are, in: %s; only the controller "
            "that wrote them can read them",
            total,
            ", ".join(i.item.name for i in summary.encrypted),
        )
    return EXIT_OK


def _body(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    if args.command == "import":
        return _import(args, settings, record)
    if args.command == "render" and args.output is not None:
        _output_dir(args.output)
    if args.command == "render":
        return _render(args, settings, jobspecs.load(settings.jobs_dir))
    if args.command == "run":
        return _run(args, settings, jobspecs.load(settings.jobs_dir), record)
    if settings.prune_action not in ("delete", "disable"):  # a flag is checked by argparse, env and file here
        raise ConfigError(f"prune_action (CA_PRUNE_ACTION): expected delete or disable, got {settings.prune_action!r}")
    if settings.max_delete < 0:
        raise ConfigError(f"max_delete: expected 0 or more, got {settings.max_delete}")
    # An empty jobs directory is a plan too (it deletes nothing: see check_prune); a missing one is an error.
    specs = jobspecs.load(settings.jobs_dir, allow_empty=True)
    from ..jobsync import sync

    client = _client(settings)  # the URL is checked first: one usage error at a time, no request yet
    who = owner.resolve(settings.jobs_dir, settings.owner)
    record["owner"] = who
    p = sync.plan(
        specs,
        client,
        who,
        verify=settings.verify,
        diffs=args.command == "diff",
        adopt=settings.adopt,
        replace=settings.replace,
        prune_action=settings.prune_action,
    )
    # --max-delete "raised for the run": given as a flag or in the environment, not from the config file
    allow_all = getattr(args, "max_delete", None) is not None or bool(os.environ.get("CA_MAX_DELETE"))
    if args.command == "diff":
        sys.stdout.write(redact.scrub(p.render(prune=settings.prune)))
        record.update(counts=p.counts(), plan=p.groups(), prune_refused=None)
        try:
            p.check_prune(settings.max_delete, allow_all)
        except PreconditionError as exc:
            record["prune_refused"] = exc.message
            log.warning("WARNING: apply --prune would refuse: %s", exc.message)
        return EXIT_OK
    log.info("jobsync: owner %s", who)
    result = sync.Result()
    try:
        sync.apply(p, client, prune=settings.prune, result=result, max_delete=settings.max_delete, allow_all=allow_all)
    finally:  # an abort (SIGTERM) still reports what was done, in flight and not attempted
        record.update(result.as_report())
    if result.failed:
        raise OperationError(f"jobsync apply: {result.summary()}")
    log.info("jobsync apply: %s", result.summary())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
