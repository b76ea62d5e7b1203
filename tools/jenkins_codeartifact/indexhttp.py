"""HTTP to a package index: one session per index with connect + read timeouts on every request, and
bounded retries for idempotent requests (backoff with jitter, ``Retry-After`` honoured, one log line each).

Shared by the publish flow (simple API, upload POST) and anything else that reads an index.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

from .netpolicy import describe_failure as describe_failure  # one source; publish imports it from here

log = logging.getLogger(__name__)

# Time bounds for every HTTP request to an index (simple API, JSON API, upload). Tests lower them.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
RETRIES = 4  # idempotent requests: attempts after the first
BACKOFF = 0.5  # seconds before the first retry; doubles each time, plus up to as much again of jitter
BACKOFF_MAX = 20.0
RETRY_AFTER_MAX = 60.0  # a longer Retry-After is shortened to this
RETRY_STATUSES = (429, 500, 502, 503, 504)


def _retry_class() -> type:
    """urllib3's Retry (it honours Retry-After), with exponential backoff + jitter and one log line per retry."""
    from urllib3.util.retry import Retry

    class LoggedRetry(Retry):
        def sleep(self, response: Any = None) -> None:
            attempt = len(self.history)
            last = self.history[-1] if self.history else None
            cause = "error"
            if last is not None and last.status:
                cause = f"HTTP {last.status}"
            elif last is not None and last.error is not None:
                cause = describe_failure(last.error)
            wait = self.get_retry_after(response) if response is not None else None
            why = " (Retry-After)" if wait is not None else ""
            if wait is None:
                wait = min(BACKOFF_MAX, BACKOFF * 2 ** (attempt - 1)) * (1 + random.random())
            where = f"{last.method} {last.url}" if last else "request"
            log.info(
                "index: %s: %s; retry %d of %d in %.1fs%s",
                where,
                cause,
                attempt,
                attempt + (self.total or 0),
                wait,
                why,
            )
            time.sleep(wait)

    return LoggedRetry


def http_session(
    auth: tuple[str, str] | None = None, retries: int | None = None, timeout: float | None = None
) -> requests.Session:
    """A requests session for an index: connect + read timeouts on every request, and bounded retries.

    GET and HEAD are retried on connection errors, timeouts and 429/5xx. Other methods (the upload
    POST) are retried only when the connection could not be opened, i.e. nothing was sent: whether a
    POST that failed later landed is for the caller to find out, never to guess by sending it again.
    """
    import requests
    from requests.adapters import HTTPAdapter

    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _NoRetryWarnings) for f in pool_log.filters):
        pool_log.addFilter(_NoRetryWarnings())
    read = READ_TIMEOUT if timeout is None else timeout
    bounds = (min(CONNECT_TIMEOUT, read), read)
    n = RETRIES if retries is None else retries

    class Session(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> requests.Response:
            kw.setdefault("timeout", bounds)
            attempt = 0
            while True:
                try:
                    return super().request(method, url, *args, **kw)
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                    # urllib3 retries up to the headers; a body cut off after them is retried here (GET only)
                    attempt += 1
                    if str(method).upper() not in ("GET", "HEAD") or attempt > n or "MaxRetryError" in repr(exc):
                        raise
                    wait = min(BACKOFF_MAX, BACKOFF * 2 ** (attempt - 1)) * (1 + random.random())
                    log.info(
                        "index: %s %s: %s; retry %d of %d in %.1fs",
                        method,
                        url,
                        describe_failure(exc),
                        attempt,
                        n,
                        wait,
                    )
                    time.sleep(wait)

    retry = _retry_class()(
        total=n,
        status=n,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=RETRY_STATUSES,
        raise_on_status=False,  # the last answer comes back, so the error can say which status it was
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX,
        redirect=5,
    )
    session = Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = auth
    return session


class _NoRetryWarnings(logging.Filter):
    """urllib3 warns about each retry in its own words; :func:`http_session` logs one line of ours instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying")
