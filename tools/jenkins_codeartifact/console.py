"""Logging set-up and progress lines that read well in a Jenkins console.

Plain text with elapsed seconds; colour only when the stream is a TTY. The library logs through
``logging``; only the CLIs call :func:`setup`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import ClassVar, TextIO

from . import redact

log = logging.getLogger("jenkins_codeartifact")


class _Formatter(redact.RedactingFormatter):
    COLOURS: ClassVar[dict[int, str]] = {logging.ERROR: "\033[31m", logging.WARNING: "\033[33m"}

    def __init__(self, colour: bool) -> None:
        super().__init__("%(message)s")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING and not text.startswith(("ERROR", "WARNING", "TIP")):
            text = f"{record.levelname}: {text}"
        if self.colour and record.levelno in self.COLOURS:
            text = f"{self.COLOURS[record.levelno]}{text}\033[0m"
        return text


def setup(verbose: bool = False, stream: TextIO | None = None) -> None:
    """Send our log records (scrubbed) to ``stream``; ``-v`` adds our debug lines and third-party info."""
    redact.install()
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(colour=stream.isatty()))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_jca", False)]:
        root.removeHandler(old)
    handler._jca = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)  # botocore's DEBUG would drown the console
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


@contextlib.contextmanager
def step(what: str, logger: logging.Logger = log) -> Iterator[Progress]:
    """Log ``what`` on entry and ``what: done in N.Ns`` (or ``failed after``) on exit."""
    progress = Progress(what, logger)
    logger.info("%s ...", what)
    try:
        yield progress
    except BaseException:
        logger.info("%s: failed after %.1fs", what, progress.elapsed)
        raise
    logger.info("%s: done in %.1fs", what, progress.elapsed)


class Progress:
    """Elapsed-time prefix for the lines a long operation streams (build output, push, waits)."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what, self.logger, self.start = what, logger, time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def line(self, text: str) -> None:
        self.logger.info("[%6.1fs] %s", self.elapsed, text.rstrip())
