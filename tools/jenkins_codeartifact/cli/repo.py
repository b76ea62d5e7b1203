"""``ca-repo env|exec|promote|prune``: a CodeArtifact repository beyond the first upload.

``env`` prints environment lines for ``eval "$(ca-repo env)"`` (stdout holds nothing else), ``exec``
runs a command with them and its output masked, ``promote`` copies a tested revision to another
repository and checks it by SHA-256, ``prune`` retires old versions with a plan and a cap.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .. import files
from ..errors import ConfigError
from ..repo import env as envmod
from ..repo import login
from ..settings import Settings
from ._common import ArgumentParser, add_options, new_parser, run

PROG = "ca-repo"
LIBRARIES = ("boto3", "botocore")
log = logging.getLogger("jenkins_codeartifact")
COMMANDS = {
    "env": 'print environment lines for pip/uv/poetry/twine (eval "$(ca-repo env)"); writes nothing',
    "exec": "run a command (after --) with those variables set and the token masked in its output",
    "promote": "copy NAME VERSION --from dev --to release, pinned to the tested revision, checked by SHA-256",
    "prune": "unlist, archive, dispose or delete old versions of NAME: newest --keep N and protected ones stay",
    "origin": "say whether publishing NAME will be refused (exit 3) or the name could be shadowed from PyPI",
}


def parser() -> ArgumentParser:
    p = new_parser(PROG, "CodeArtifact for engineers and release jobs: login lines, promotion, retention.", LIBRARIES)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=ArgumentParser)
    options = ArgumentParser(add_help=False)
    add_options(options, "index", "repo")
    for name, text in COMMANDS.items():
        s = sub.add_parser(name, help=text, description=text, parents=[options])
        if name in ("promote", "prune", "origin"):
            s.add_argument("package", metavar="NAME", help="the package")
        if name in ("promote", "prune"):
            s.add_argument(
                "--dry-run", dest="dry_run", action="store_true", help="list what would change, change nothing"
            )
        if name == "promote":
            s.add_argument("version", metavar="VERSION", help="the version to promote")
        if name == "exec":
            s.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD...", help="the command to run")
    return p


def _env(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    tools = envmod.check_tools(settings.env_tools, settings.source_name)
    if settings.env_file and (why := files.check_writable(settings.env_file)):
        raise ConfigError(f"--write {settings.env_file}: {why}")
    creds = login.credentials(settings)
    text = envmod.render(creds, tools, settings.source_name)
    record.update(tools=list(tools), index=creds.simple_url, expires=creds.expires)
    if "poetry" in tools:
        log.info("add this source to pyproject.toml:\n%s", envmod.poetry_source(settings.source_name, creds))
    if settings.env_file:
        files.write(settings.env_file, text, private=True)
        record["written"] = settings.env_file
        log.info("wrote %s (mode 0600)", settings.env_file)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def _exec(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    tools = envmod.check_tools(settings.env_tools, settings.source_name)
    if set(tools) & set(envmod.FILE_TOOLS):
        raise ConfigError(f"--for {tools[0]}: exec sets environment variables; netrc and docker-secret are files")
    if not argv:
        raise ConfigError("ca-repo exec: no command given", hint="ca-repo exec -- pip install NAME")
    creds = login.credentials(settings)
    code = login.run_masked(argv, envmod.variables(creds, tools, settings.source_name))
    record.update(tools=list(tools), command=argv[0], child_exit_code=code)
    return code


def _promote(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    from ..repo import promote

    return promote.promote(settings, args.package, args.version, record)


def _prune(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    from ..repo import prune

    return prune.prune(settings, args.package, record)


def _origin(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    from ..repo import facade, origin

    found = origin.check(facade(settings), args.package)
    record.update(
        name=found.package,
        repository=found.repository,
        group=found.group,
        publish=found.publish or found.group_publish,
        upstream=found.upstream or found.group_upstream,
        shadowing=found.shadowing(),
    )
    log.info(
        "%s in %s: package group %s; publishing allowed%s",
        found.package,
        found.repository,
        found.group,
        "" if found.shadowing() else "; the public upstream is blocked",
    )
    return 0


BODIES = {"env": _env, "exec": _exec, "promote": _promote, "prune": _prune, "origin": _origin}


def _body(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    return BODIES[args.command](args, settings, record)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
