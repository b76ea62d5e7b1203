"""HTTP to a package index: one session per index with connect + read timeouts on every request, and
bounded retries for idempotent requests (backoff with jitter, ``Retry-After`` honoured, one log line each).

Shared by the publish flow (simple API, upload POST) and anything else that reads an index.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

from . import netpolicy
from .netpolicy import describe_failure

log = logging.getLogger(__name__)

POLICY = netpolicy.INDEX  # time bounds and retries of every index request; tests swap in a faster one


def _retry_class() -> type:
    """urllib3's Retry (it honours Retry-After), with the policy's backoff and one retry line each."""
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
            retry_after = self.get_retry_after(response) if response is not None else None
            wait = POLICY.delay(attempt, retry_after)
            where = f"{last.method} {last.url}" if last else "request"
            total = attempt + (self.total or 0)
            netpolicy.log_retry(
                log, f"index: {where}", cause, attempt, total, wait, retry_after=retry_after is not None
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
    read = POLICY.read if timeout is None else timeout
    bounds = (min(POLICY.connect, read), read)
    n = POLICY.retries if retries is None else retries

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
                    wait = POLICY.delay(attempt)
                    subject = f"index: {method!s} {url!s}"
                    netpolicy.log_retry(log, subject, describe_failure(exc), attempt, n, wait, retry_after=False)
                    time.sleep(wait)

    retry = _retry_class()(
        total=n,
        status=n,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=netpolicy.RETRYABLE_STATUSES,
        raise_on_status=False,  # the last answer comes back, so the error can say which status it was
        respect_retry_after_header=True,
        retry_after_max=netpolicy.RETRY_AFTER_MAX,
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
