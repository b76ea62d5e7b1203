"""``ca-sandbox up|down|env``: the local stand-ins every other command can run against.

``up`` prints ``export NAME=value`` lines on stdout (also written to DIR/env.sh), so
``eval "$(ca-sandbox up)"`` or ``. .sandbox/env.sh`` points a shell at the sandbox.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import sandbox
from ..console import step
from ..settings import Settings
from ._common import EXIT_OK, ArgumentParser, add_options, new_parser, run

PROG = "ca-sandbox"


LIBRARIES = ("devpi-server", "moto")


def build_parser() -> ArgumentParser:
    parser = new_parser(PROG, __doc__.split("\n\n")[0] if __doc__ else None, LIBRARIES)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{up,down,env}", parser_class=ArgumentParser)
    for name, text in (
        ("up", "start (or reuse) the services and print their environment"),
        ("down", "stop the services this sandbox started"),
        ("env", "print the environment of a running sandbox"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        add_options(cmd)
        cmd.add_argument(
            "--dir",
            type=Path,
            default=Path(os.environ.get("CA_SANDBOX_DIR") or ".sandbox"),
            help="sandbox directory [env: CA_SANDBOX_DIR, which env.sh sets; default: .sandbox]",
        )
        if name == "up":
            cmd.add_argument("--docker", action="store_true", help="also a Docker engine and the local base image")
            cmd.add_argument(
                "--free-ports",
                action="store_true",
                help="pick free ports instead of 3141/3142/5000/5001 (remembered in DIR and reused while free)",
            )
    return parser


def _body(args: argparse.Namespace, settings: Settings, record: dict[str, Any]) -> int:
    directory: Path = args.dir
    record["dir"] = str(directory)
    if args.command == "up":
        with step(f"sandbox up in {directory}"):
            sandbox.up(directory, docker=args.docker, pick_free=args.free_ports)
        sys.stdout.write(sandbox.env_text(directory))
    elif args.command == "down":
        with step(f"sandbox down in {directory}"):
            sandbox.down(directory)
    else:
        sys.stdout.write(sandbox.env_text(directory))  # a clear error when the sandbox is not up
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
