"""Warm pinned files through the upstream before a build: a 404 that turns into a 200 is a WARNING, not a failure.

CodeArtifact can list a file from its pypi-store upstream before the import has finished, and answer
404 to its first download (ray-project/ray PR#65567: 2-3% of fresh pins); pip does not retry a 404.
:func:`warm` sends HEAD requests (no download) for the files a build will fetch, repeating a 404 with
backoff until it turns into a 200 or the deadline passes. The consumer's index check calls it with the
files its requirements pin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from .. import netpolicy
from ..errors import OperationError

log = logging.getLogger(__name__)
POLICY = netpolicy.INDEX_CHECK  # per request: its timeouts; the 404 waits double from its backoff
DEADLINE = 60.0  # seconds for all the files together


@dataclass(frozen=True)
class Warmed:
    url: str
    status: int  # the last answer
    first: int  # the first answer (404 for a file still being imported)
    attempts: int


def warm(
    session: requests.Session,
    urls: Sequence[str],
    deadline: float = DEADLINE,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Warmed]:
    """HEAD each URL until it answers 200 (a 404 is retried with backoff); one WARNING per late file.

    A file still 404 at the deadline, or any other error status, is an OperationError naming it.
    """
    end = clock() + deadline
    out: list[Warmed] = []
    for url in urls:
        delay, attempts, first = POLICY.backoff, 0, 0
        while True:
            attempts += 1
            try:
                status = session.head(url, timeout=POLICY.timeout, allow_redirects=True).status_code
            except requests.RequestException as exc:
                raise OperationError(f"warming {_name(url)}: {netpolicy.describe_failure(exc)}") from exc
            first = first or status
            if status != 404 or clock() + delay > end:
                break
            sleep(delay)
            delay = min(delay * 2, POLICY.backoff_max)
        if status != 200:
            raise OperationError(
                f"warming {_name(url)}: HTTP {status} after {attempts} attempts",
                hint="the upstream has not imported this file; rerun later, or pin another version",
            )
        if first == 404:
            log.warning(
                "WARNING: %s was still being imported from the upstream (404, then 200 after %d tries)",
                _name(url),
                attempts,
            )
        out.append(Warmed(url, status, first, attempts))
    return out


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("#", 1)[0]
