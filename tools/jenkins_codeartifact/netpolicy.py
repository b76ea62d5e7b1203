"""The one I/O policy: how long a request may take, what is retried, and how long to wait between tries.

Every HTTP client of the toolkit (the index session, the index check before an image build, registry v2
requests, the Jenkins transport, the AWS retry log) takes its numbers, its backoff and its words from
here, so that a retry reads the same everywhere and docs/failures.md has one table to keep true.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import requests

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 60.0  # a longer Retry-After is shortened to this


@dataclass(frozen=True)
class Policy:
    """Time bounds and retries of one kind of request. ``retries`` counts the tries after the first."""

    connect: float
    read: float
    retries: int
    backoff: float  # seconds before the first retry; doubles with each one
    backoff_max: float = 20.0

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` as requests takes it."""
        return (min(self.connect, self.read), self.read)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """The server's ``Retry-After`` when it gave one, else ``backoff * 2**(retry-1)`` (capped) less up
        to half of it at random, so that clients retrying together spread out."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_MAX)
        ceiling = min(self.backoff_max, self.backoff * 2.0 ** (retry - 1))
        return ceiling * random.uniform(0.5, 1.0)


INDEX = Policy(connect=10.0, read=60.0, retries=4, backoff=0.5)  # simple API, JSON API, uploads
INDEX_CHECK = Policy(connect=5.0, read=30.0, retries=2, backoff=1.0)  # the one GET before an image build
REGISTRY = Policy(connect=5.0, read=30.0, retries=2, backoff=1.0)  # registry v2 API requests of this process
JENKINS = Policy(connect=10.0, read=30.0, retries=3, backoff=0.5, backoff_max=8.0)
AWS = Policy(connect=10.0, read=60.0, retries=4, backoff=0.0)  # botocore backs off itself ("standard" mode)

# What each policy is for, as docs/failures.md's table names them (a test keeps that table true).
POLICIES = {
    "package index (simple API, JSON API, uploads)": INDEX,
    "index check before an image build": INDEX_CHECK,
    "registry v2 API (tag check, digest)": REGISTRY,
    "Jenkins (jobsync)": JENKINS,
    "AWS APIs (botocore, standard retries)": AWS,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped; None if absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def describe_failure(exc: BaseException) -> str:
    """What went wrong with a request, in a few words a user can act on (no URL: the caller names it)."""
    text = f"{type(exc).__name__} {exc}"
    for needle, words in (
        ("Read timed out", "no answer (read timed out)"),
        ("ReadTimeout", "no answer (read timed out)"),
        ("Connection refused", "connection refused"),
        ("ConnectTimeout", "connection timed out"),
        ("timed out", "timed out"),
        ("reset", "connection reset"),
        ("aborted", "connection reset"),
        ("RemoteDisconnected", "connection closed without an answer"),
        ("IncompleteRead", "answer cut off"),
        ("ChunkedEncodingError", "answer cut off"),
        ("NameResolutionError", "host name not found"),
        ("Name or service not known", "host name not found"),
    ):
        if needle in text:
            return words
    return type(exc).__name__


def log_retry(
    logger: logging.Logger, subject: str, cause: str, retry: int, retries: int, wait: float, *, retry_after: bool
) -> None:
    """The one retry line: ``SUBJECT: CAUSE; retry N of M in 1.2s`` (``(Retry-After)`` when the server set it)."""
    why = " (Retry-After)" if retry_after else ""
    logger.warning("%s: %s; retry %d of %d in %.1fs%s", subject, cause, retry, retries, wait, why)


class Answer(Protocol):
    status_code: int
    headers: requests.structures.CaseInsensitiveDict[str]


A = TypeVar("A", bound=Answer)


class RetriesExhausted(Exception):
    """Every attempt failed in a way worth retrying; ``cause`` is the last one, for the caller's error."""

    def __init__(self, cause: str, attempts: int) -> None:
        super().__init__(cause)
        self.cause, self.attempts = cause, attempts


def request(
    send: Callable[[], A],
    policy: Policy,
    subject: str,
    logger: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> A:
    """``send()`` until it gets an answer that is not 429/5xx; network errors are retried too.

    Only for idempotent requests. Any other answer (200, 404, 401...) is returned for the caller to read;
    when the retries run out, :class:`RetriesExhausted` carries the last cause.
    """
    cause = ""
    for attempt in range(1, policy.attempts + 1):
        retry_after: float | None = None
        try:
            answer = send()
        except requests.Timeout:
            cause = f"did not answer within {policy.read:g}s"
        except requests.RequestException as exc:
            cause = f"could not be reached ({describe_failure(exc)})"
        else:
            if answer.status_code not in RETRYABLE_STATUSES:
                return answer
            cause = f"answered HTTP {answer.status_code}"
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        if attempt < policy.attempts:
            wait = policy.delay(attempt, retry_after)
            log_retry(logger, subject, cause, attempt, policy.retries, wait, retry_after=retry_after is not None)
            sleep(wait)
    raise RetriesExhausted(cause, policy.attempts)
