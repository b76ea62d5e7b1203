"""One exception root: every failure a user can see carries a one-line message, a hint and an exit code.

CLIs map these to exit codes; the library raises them and never calls sys.exit. Messages are scrubbed
of registered secrets when they are created, so an error can be logged or re-raised anywhere safely.
"""

from __future__ import annotations

from . import redact

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PRECONDITION = 3
EXIT_CHANGES = 4  # deploy --plan --exit-code: the plan has changes (not a failure)


class CAError(Exception):
    """Root of every error this toolkit raises on purpose."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = redact.scrub(" ".join(message.split()))
        self.hint = redact.scrub(hint) if hint else None
        super().__init__(self.message)


class OperationError(CAError):
    """An operation was attempted and failed (network, service, build, upload)."""


class ConfigError(CAError):
    """Bad usage, bad configuration or bad input files: fix the invocation and run again."""

    exit_code = EXIT_USAGE


class PreconditionError(CAError):
    """The world is not in a state this run may act on (for example: version already published)."""

    exit_code = EXIT_PRECONDITION
