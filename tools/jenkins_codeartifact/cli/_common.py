"""What every CLI shares: common flags, settings from flags, and the one top-level error handler."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from .. import redact, settings
from ..console import setup
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CAError

log = logging.getLogger("jenkins_codeartifact")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors go through the same handler."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


class UsageError(CAError):
    exit_code = EXIT_USAGE


class Terminated(BaseException):
    """SIGTERM turned into an exception, so every ``finally`` and context manager on the way out runs."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def add_common(parser: argparse.ArgumentParser) -> None:
    """Flags every command has."""
    parser.add_argument("-v", "--verbose", action="store_true", help="debug output (secrets stay masked)")
    parser.add_argument("--config", metavar="FILE", help=f"config file (default: nearest {settings.CONFIG_NAME})")
    parser.add_argument("--report", metavar="FILE", help="write a JSON report here (atomically)")


def add_aws(parser: argparse.ArgumentParser) -> None:
    """Flags for commands that reach CodeArtifact or other AWS services."""
    g = parser.add_argument_group("AWS and CodeArtifact")
    g.add_argument("--domain", help="CodeArtifact domain (CA_DOMAIN)")
    g.add_argument("--domain-owner", help="account id owning the domain (CA_DOMAIN_OWNER)")
    g.add_argument("--repository", help="CodeArtifact repository (CA_REPOSITORY)")
    g.add_argument("--region", help="AWS region (AWS_REGION)")
    g.add_argument("--profile", help="AWS profile (AWS_PROFILE)")
    g.add_argument("--role-arn", help="assume this role first, for cross-account use (CA_ROLE_ARN)")
    g.add_argument("--token-duration", type=int, help="token lifetime, 0 or 900..43200 s (CA_TOKEN_DURATION)")
    g.add_argument("--endpoint-type", choices=["ipv4", "dualstack"], help="repository endpoint (CA_ENDPOINT_TYPE)")
    g.add_argument(
        "--repository-url",
        help="any PyPI-compatible index instead of CodeArtifact; credentials from "
        "CA_INDEX_USERNAME/CA_INDEX_PASSWORD (CA_REPOSITORY_URL)",
    )
    g.add_argument(
        "--simple-url", help="that index's simple API URL (default: URL + simple/, +simple/ on devpi) (CA_SIMPLE_URL)"
    )


def load_settings(args: argparse.Namespace) -> settings.Settings:
    """Settings from parsed args: only attributes that are Settings fields and were given."""
    # None, False and [] mean "not given" (argparse defaults); 0 is a real value, so compare by identity
    flags = {
        k: v for k, v in vars(args).items() if k in settings.FIELDS and v is not None and v is not False and v != []
    }
    if "params" in flags:
        flags["params"] = tuple(flags["params"])
    return settings.load(flags, config=args.config)


def run(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int], argv: Sequence[str] | None) -> int:
    """Parse, set up logging, run ``body``; every expected failure becomes ERROR/TIP lines + exit code."""
    raw = sys.argv[1:] if argv is None else argv
    setup(verbose=any(a in ("-v", "--verbose") for a in raw))
    # Jenkins aborts a build (and `timeout`) with SIGTERM, whose default kills us without running any
    # `finally`: temp pip.conf files, smoke-test containers and half-moved files would stay behind.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        args = parser.parse_args(argv)
        setup(verbose=args.verbose)
        return body(args)
    except CAError as exc:
        log.error("ERROR: %s", exc.message)
        if exc.hint:
            log.error("TIP: %s", exc.hint)
        log.debug("traceback", exc_info=True)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("ERROR: interrupted")
        return 130
    except Terminated:
        log.error("ERROR: terminated (SIGTERM); cleaned up what this run had started")
        return 143
    except Exception as exc:  # a bug: say so plainly, keep secrets out, keep the traceback for -v
        log.error("ERROR: unexpected %s: %s", type(exc).__name__, redact.scrub(str(exc)))
        log.error("TIP: rerun with -v for the traceback and report it")
        log.debug("traceback", exc_info=True)
        return EXIT_FAILED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if argv is None:  # a real process, about to exit (tests pass argv and go on)
            # The interpreter's last collection walks every boto3/twine object only to free memory the
            # exit frees anyway: about 80 ms of a 0.7 s publish. Freezing skips that walk.
            gc.freeze()


__all__ = ["EXIT_OK", "ArgumentParser", "add_aws", "add_common", "load_settings", "run"]
