"""What a run removed, stopped or restored on its way out, so the last line and the report can say it exactly.

The stages note each piece of cleanup as it happens (a removed smoke-test container, the stopped docker
CLI, the previous local target restarted); :meth:`Stages.run` moves the list into the report's
``cleaned_up`` and the CLI's abort line quotes it. A plain list: one run per process.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_done: list[str] = []


def note(what: str) -> None:
    """Record (and log) one piece of cleanup that has been done."""
    _done.append(what)
    log.info("cleaned up: %s", what)


def drain() -> list[str]:
    """Everything noted since the last drain, oldest first."""
    items = list(_done)
    _done.clear()
    return items
