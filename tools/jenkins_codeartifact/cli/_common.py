"""What every CLI shares: flags generated from ``settings.py``, ``--version``, and the one failure path.

:func:`run` parses, loads settings, checks ``--report``'s path before any work, runs the command's body
with SIGTERM/SIGINT turned into exceptions, maps every way out to an exit code and one ERROR line, and
writes the report (``"status"``: ``ok``, ``failed`` or ``aborted``) whatever happened.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.metadata
import logging
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__, config, files, redact, report, settings, signals
from ..console import setup
from ..errors import EXIT_CHANGES, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CAError, ConfigError
from . import options

log = logging.getLogger("jenkins_codeartifact")

Body = Callable[[argparse.Namespace, settings.Settings, dict[str, Any]], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors go through the same handler."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


class UsageError(CAError):
    exit_code = EXIT_USAGE


def version(prog: str, libraries: Sequence[str]) -> str:
    """``PROG VERSION (jenkins-codeartifact; Python X; lib V, ...)``, as ``twine --version`` lists what it drives."""
    parts = [f"Python {platform.python_version()}"]
    for name in libraries:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return f"{prog} {__version__} (jenkins-codeartifact; {', '.join(parts)})"


class _Version(argparse.Action):
    """``--version``: one unwrapped line on stdout (argparse's own action rewraps it), computed when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, libraries: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)
        self.libraries = libraries

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        sys.stdout.write(version(parser.prog, self.libraries) + "\n")
        parser.exit()


def new_parser(prog: str, description: str | None, libraries: Sequence[str] = ()) -> ArgumentParser:
    """The command's top-level parser, answering ``--version``."""
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--version", action=_Version, libraries=libraries, help="show the versions of this tool and its libraries"
    )
    return parser


def add_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """``-v``, ``--config`` and the flags of the named settings fields or groups (``--report`` always)."""
    # SUPPRESS: a subcommand's -v must not reset one given before the subcommand
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug output (secrets stay masked)"
    )
    parser.add_argument(
        "--config", metavar="FILE", help=f"config file [env: CA_CONFIG; default: nearest {settings.CONFIG_NAME}]"
    )
    options.add_arguments(parser, *names, "output")


def load_settings(args: argparse.Namespace) -> settings.Settings:
    """Settings from parsed args: only attributes that are Settings fields and were given."""
    # None, False and [] mean "not given" (argparse defaults); 0 is a real value, so compare by identity
    flags = {
        k: v for k, v in vars(args).items() if k in settings.FIELDS and v is not None and v is not False and v != []
    }
    if "params" in flags:
        flags["params"] = tuple(flags["params"])
    return config.load(flags, config=getattr(args, "config", None))


def _not_dumpable() -> None:
    """Keep this process's memory and environment (tokens, keys) away from same-user processes.

    A build backend runs code fetched from an index; without this it could read our secrets through
    ``/proc/<ppid>/environ`` or ``/proc/<ppid>/mem``. Children get the flag back when they exec.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no libc prctl: nothing to harden
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _check_report(path: str | None) -> None:
    if path and (why := files.check_writable(path)):
        raise ConfigError(f"--report {path}: {why}", hint="point --report (CA_REPORT) at a writable file path")


def run(parser: argparse.ArgumentParser, body: Body, argv: Sequence[str] | None) -> int:
    """Parse, load settings, check ``--report``, run ``body``; every way out is an exit code and a report.

    ``body`` fills the report's dict as it goes, so a failure or abort still reports what was done.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    setup(verbose=any(a in ("-v", "--verbose") for a in raw))
    _not_dumpable()
    record: dict[str, Any] = {}
    report_path: str | None = None
    error: dict[str, Any] | None = None
    with signals.handlers(restore=argv is not None):
        try:
            args = parser.parse_args(raw)
            setup(verbose=getattr(args, "verbose", False))
            config = load_settings(args)
            _check_report(config.report)
            report_path = config.report
            code = body(args, config, record)
            signals.finishing()
        except CAError as exc:
            signals.finishing()
            log.error("ERROR: %s", exc.message)
            if exc.hint:
                log.error("TIP: %s", exc.hint)
            log.debug("traceback", exc_info=True)
            code, error = exc.exit_code, {"message": exc.message, "exit_code": exc.exit_code}
            if exc.hint:
                error["hint"] = exc.hint
        except KeyboardInterrupt:
            signals.finishing(aborted=True)
            log.error("ERROR: interrupted (SIGINT); %s", _cleaned(record))
            code, error = signals.EXIT_SIGINT, {"message": "interrupted (SIGINT)", "exit_code": signals.EXIT_SIGINT}
        except signals.Terminated:
            signals.finishing(aborted=True)
            log.error("ERROR: terminated (SIGTERM); %s", _cleaned(record))
            code = signals.EXIT_SIGTERM
            error = {"message": "terminated (SIGTERM)", "exit_code": code}
        except Exception as exc:  # a bug: say so plainly, keep secrets out, keep the traceback for -v
            signals.finishing()
            message = redact.scrub(f"unexpected {type(exc).__name__}: {exc}")
            log.error("ERROR: %s", message)
            log.error("TIP: rerun with -v for the traceback and report it")
            log.debug("traceback", exc_info=True)
            code, error = EXIT_FAILED, {"message": message, "exit_code": EXIT_FAILED}
        if report_path:
            code = _write_report(report_path, record, parser.prog, args, code, error)
    if argv is None:  # a real process, about to exit (tests pass argv and go on)
        skip_final_collection()
    return code


def _cleaned(record: dict[str, Any]) -> str:
    """What the abort cleaned up, from the body's ``cleaned_up`` list when it keeps one."""
    if "cleaned_up" in record:
        return "cleaned up: " + "; ".join(record["cleaned_up"]) if record["cleaned_up"] else "nothing to clean up"
    return "cleaned up what this run had started"


def skip_final_collection() -> None:
    """Move every object out of the collector's reach, so the exit does not walk them all.

    The interpreter's last collections walk every boto3/twine object only to free memory the exit frees
    anyway; ``benchmarks/exit_gc.py`` measures the difference. Only for a process about to exit.
    """
    gc.freeze()


def _write_report(
    path: str, record: dict[str, Any], prog: str, args: argparse.Namespace, code: int, error: dict[str, Any] | None
) -> int:
    """Write ``--report``; while a failure is on its way out, a write error is logged, not raised,
    so the user sees the failure that ended the run rather than the report's."""
    ok = (EXIT_OK, EXIT_CHANGES)  # 4: deploy --plan --exit-code found changes, which is no failure
    status = "ok" if code in ok else "aborted" if code in (signals.EXIT_SIGINT, signals.EXIT_SIGTERM) else "failed"
    record.update(tool=prog, status=status, exit_code=code)
    if getattr(args, "command", None):
        record["command"] = args.command
    if error is not None:
        record["error"] = error
    try:
        report.write(path, record)
    except CAError as exc:
        if code != EXIT_OK:
            log.warning("WARNING: the report was not written: %s", exc.message)
            return code
        log.error("ERROR: %s", exc.message)
        return exc.exit_code
    return code


__all__ = ["EXIT_OK", "ArgumentParser", "add_options", "load_settings", "new_parser", "run", "version"]
